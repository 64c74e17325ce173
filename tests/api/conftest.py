"""A real uvicorn process on loopback, started once for the API tests."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 300.0  # the first version of an empty database is computed at start (minutes on a busy machine)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_server(
    env: dict[str, str] | None = None, log_path: Path | None = None, port: int | None = None
) -> tuple[subprocess.Popen, str]:
    """Start the shipped server command (magnet-forecast serve) on a free loopback port; do not wait.

    Logs go to a file: a pipe nobody reads would fill up and block the server.
    """
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    log_path = log_path or tmp / f"magnet-forecast-uvicorn-{port}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    proc.log_path = log_path  # type: ignore[attr-defined]
    return proc, base


def wait_ready(proc: subprocess.Popen, base: str, timeout_s: float = START_TIMEOUT_S) -> None:
    """Wait until /ready answers 200 (raise if the process exits or the time runs out)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.log_path.read_text()[-4000:]}")  # type: ignore[attr-defined]
        try:
            if httpx.get(f"{base}/ready", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server did not become ready: {proc.log_path.read_text()[-4000:]}")  # type: ignore[attr-defined]


def start_server(env: dict[str, str] | None = None, log_path: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start the shipped server command on a free loopback port and wait until /ready answers 200."""
    proc, base = launch_server(env, log_path)
    wait_ready(proc, base)
    return proc, base


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


ADMIN_TOKEN = "test-admin-token-of-at-least-32-characters"


@pytest.fixture(scope="session")
def server_db(tmp_path_factory) -> Path:
    """The session server's SQLite file (copy it with ``copy_sqlite`` to start more servers at once)."""
    return tmp_path_factory.mktemp("db") / "service.db"


def copy_sqlite(src: Path, dst: Path) -> str:
    """A consistent copy of a live SQLite database (WAL included); returns its URL."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return f"sqlite:///{dst}"


@pytest.fixture(scope="session")
def server(server_db) -> Iterator[str]:
    db = server_db
    proc, base = start_server(
        {
            "BENCH_ROUTES": "0",
            "DATABASE_URL": f"sqlite:///{db}",
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "SCHEDULER_ENABLED": "false",
            # many tests and the schema fuzzer share this server: its what-if rate is not what they test
            "COMPUTE_RATE_PER_MIN": "100000",
            "COMPUTE_BURST": "1000",
        }
    )
    yield base
    stop_server(proc)


@pytest.fixture()
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30.0) as c:
        yield c
