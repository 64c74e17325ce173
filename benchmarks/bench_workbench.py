"""Workbench figures: what-if round trip over HTTP, the comparison, and the Excel workbook.

Against a running service (``BASE_URL``, e.g. http://127.0.0.1:8000) or one started here on loopback.
Prints the POST /v1/forecast latency with bands (p50, max), POST /v1/compare with a what-if, and the
workbook's build time (first GET /v1/export.xlsx), cached time, size and sheet count. The in-browser
round trip (request plus redraw) is printed by tests/api/test_workbench.py.
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
import openpyxl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.api.conftest import start_server, stop_server

REQUESTS = 5
TIMEOUT_S = 600.0
KG_PER_MOTOR = (1.2, 1.4, 1.6, 1.8, 2.0)


def timed(fn) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    r = fn()
    r.raise_for_status()
    return time.perf_counter() - started, r


def main() -> None:
    url = os.environ.get("BASE_URL")
    proc = None
    if not url:
        # latency of one client's back-to-back what-ifs, not the per-client rate limit
        limits_off = {"COMPUTE_RATE_PER_MIN": "100000", "COMPUTE_BURST": "1000"}
        proc, url = start_server({"BENCH_ROUTES": "0", "SCHEDULER_ENABLED": "false", **limits_off})
    try:
        with httpx.Client(base_url=url, timeout=TIMEOUT_S) as client:
            post = []
            for kg in KG_PER_MOTOR[:REQUESTS]:
                body = {"scenario": "base", "overrides": {"ev.motor_kg.BEV": kg}, "quantiles": True}
                post.append(timed(lambda b=body: client.post("/v1/forecast", json=b))[0])
            print(
                f"POST /v1/forecast with bands: p50 {1000 * statistics.median(post):.0f} ms, "
                f"max {1000 * max(post):.0f} ms ({len(post)} requests)"
            )
            body = {
                "scenarios": ["base", "high", "low"],
                "what_if": {"scenario": "base", "overrides": {"ev.motor_kg.BEV": 1.8}},
                "by": "segment",
            }
            t, _ = timed(lambda: client.post("/v1/compare", json=body))
            print(f"POST /v1/compare, three scenarios and a what-if by segment: {1000 * t:.0f} ms")
            first, r = timed(lambda: client.get("/v1/export.xlsx"))
            cached, _ = timed(lambda: client.get("/v1/export.xlsx"))
            book = openpyxl.load_workbook(io.BytesIO(r.content), read_only=True)
            cells = sum((ws.max_row or 0) * (ws.max_column or 0) for ws in book.worksheets)
            print(
                f"GET /v1/export.xlsx: built in {first:.1f} s, cached {1000 * cached:.0f} ms, "
                f"{len(r.content) / 1e6:.1f} MB, {len(book.sheetnames)} sheets, about {cells / 1e6:.2f} M cells"
            )
    finally:
        if proc is not None:
            stop_server(proc)


if __name__ == "__main__":
    main()
