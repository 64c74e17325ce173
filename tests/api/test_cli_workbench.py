"""The command line's workbook export, progress on a terminal only, and `serve` saying where it is."""

from __future__ import annotations

import os
import pty
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl

from tests.api.conftest import free_port

EXE = shutil.which("magnet-forecast") or str(Path(sys.executable).parent / "magnet-forecast")
FAST = {"MONTE_CARLO_PATHS": "200"}  # the workbook's shape, not its precision, is under test
TIMEOUT_S = 900


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, timeout=TIMEOUT_S, env={**os.environ, **(env or {})}
    )


def run_on_a_terminal(*args: str) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal (as a person at a shell); returns (exit code, what stderr showed)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "120"}
    proc = subprocess.Popen([EXE, *args], stdout=subprocess.DEVNULL, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=TIMEOUT_S), b"".join(chunks).decode(errors="replace")


def test_export_writes_one_workbook_with_every_table(tmp_path):
    target = tmp_path / "outlook.xlsx"
    r = run("export", "--format", "xlsx", str(target), env={**FAST, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"wrote {target}")
    assert "assumptions version" in r.stdout
    assert "━" not in r.stderr  # not a terminal: no progress bar
    book = openpyxl.load_workbook(target, read_only=True)
    for sheet in ("version", "demand", "elements", "drivers", "supply by stage", "gap", "balance", "calibration"):
        assert sheet in book.sheetnames
    for sheet in ("backtest", "hindcast", "sources"):
        assert sheet in book.sheetnames
    scenarios = [row[0] for row in book["version"].iter_rows(min_row=9, values_only=True) if row[0]]
    assert "base" in scenarios


def test_export_refuses_a_missing_directory(tmp_path):
    r = run("export", "--format", "xlsx", str(tmp_path / "nowhere" / "x.xlsx"))
    assert r.returncode == 2
    assert "does not exist" in r.stderr


def test_progress_shows_on_a_terminal_and_not_with_quiet():
    args = ("demand", "--quantiles", "--paths", "20000", "--start", "2040", "--end", "2040", "--format", "csv")
    code, shown = run_on_a_terminal(*args)
    assert code == 0, shown
    assert "Monte Carlo" in shown
    assert "20000 paths" in shown
    code, shown = run_on_a_terminal("--quiet", *args)
    assert code == 0
    assert "Monte Carlo" not in shown


def test_serve_says_when_it_is_ready_and_where(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        **FAST,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "SCHEDULER_ENABLED": "false",
    }
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen([EXE, "serve", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        text = ""
        while time.monotonic() < deadline and "ready:" not in text:
            assert proc.poll() is None, Path(log.name).read_text()
            time.sleep(0.5)
            text = Path(log.name).read_text()
        assert text.startswith(f"starting magnet-forecast on http://127.0.0.1:{port}")
        assert "first start" in text
        assert f"dashboard  http://127.0.0.1:{port}/" in text
        assert "/docs" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
