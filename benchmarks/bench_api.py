"""HTTP benchmark on loopback: cached GET /v1/demand against a bare route of the same payload size.

Starts one uvicorn process (BENCH_ROUTES=1), measures both routes side by side with wrk (Debian
package `wrk`), alternating them, then POST /v1/forecast latency with a Python client. Prints
throughput, p99, and the ratio demand/bare (goal >= 0.8), the POST p50 (goal < 200 ms) and the POST
p50 with Monte Carlo bands ("quantiles": true; goal < 300 ms).
Every load run is bounded in time and targets 127.0.0.1 only.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.api.conftest import start_server, stop_server

DURATION_S = 5
ROUNDS = 2
THREADS = 2
CONNECTIONS = 16
POST_REQUESTS = 30
DEMAND = "/v1/demand?scenario=base"
BARE = "/bench/bare"


def wrk(url: str) -> tuple[float, float]:
    """(requests per second, p99 latency in ms) from one bounded wrk run."""
    out = subprocess.run(
        ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{DURATION_S}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=DURATION_S + 30,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    return rps, float(p99) * scale


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk")
    # latency of one client's back-to-back what-ifs, not the per-client rate limit
    limits_off = {"COMPUTE_RATE_PER_MIN": "100000", "COMPUTE_BURST": "1000"}
    proc, base = start_server({"BENCH_ROUTES": "1", "LOG_LEVEL": "WARNING", **limits_off})
    try:
        size_demand = len(httpx.get(base + DEMAND).content)
        size_bare = len(httpx.get(base + BARE).content)
        print(f"payload bytes: demand {size_demand}, bare {size_bare}")
        results: dict[str, list[tuple[float, float]]] = {DEMAND: [], BARE: []}
        for _ in range(ROUNDS):
            for path in (BARE, DEMAND):
                results[path].append(wrk(base + path))
        for path, runs in results.items():
            rps = [r for r, _ in runs]
            p99 = [p for _, p in runs]
            med_rps, med_p99 = statistics.median(rps), statistics.median(p99)
            print(f"{path:28} rps median {med_rps:9.1f}  p99 median {med_p99:7.2f} ms  runs {runs}")
        ratio = statistics.median(r for r, _ in results[DEMAND]) / statistics.median(r for r, _ in results[BARE])
        print(f"throughput ratio demand/bare: {ratio:.3f} (goal >= 0.8)")

        body = {"scenario": "base", "overrides": {"ev.motor_kg.BEV": 1.8}, "start": 2024, "end": 2050}
        with httpx.Client(base_url=base, timeout=30) as c:
            for label, extra, goal in (("", {}, 200), (" with quantiles", {"quantiles": True}, 300)):
                c.post("/v1/forecast", json={**body, **extra}).raise_for_status()
                lat = []
                for _ in range(POST_REQUESTS):
                    t0 = time.perf_counter()
                    r = c.post("/v1/forecast", json={**body, **extra})
                    lat.append((time.perf_counter() - t0) * 1e3)
                    r.raise_for_status()
                lat.sort()
                print(
                    f"POST /v1/forecast{label}: p50 {statistics.median(lat):.1f} ms, "
                    f"p90 {lat[int(0.9 * len(lat)) - 1]:.1f} ms over {POST_REQUESTS} requests (goal p50 < {goal} ms)"
                )
    finally:
        stop_server(proc)


if __name__ == "__main__":
    main()
