"""A real uvicorn process on loopback, started once for the API tests."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

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
    proc.log_path = log_path
    return proc, base


def wait_ready(proc: subprocess.Popen, base: str, timeout_s: float = START_TIMEOUT_S) -> None:
    """Wait until /ready answers 200 (raise if the process exits or the time runs out)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/ready", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server did not become ready: {proc.log_path.read_text()[-4000:]}")


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


@pytest.fixture(scope="session")
def app_client(tmp_path_factory) -> Iterator[TestClient]:
    """The application in process (route specifications: fast, and visible to coverage)."""
    from api.main import create_app
    from api.settings import Settings

    db = tmp_path_factory.mktemp("db-in-process") / "service.db"
    settings = Settings(
        BENCH_ROUTES=False,
        DATABASE_URL=f"sqlite:///{db}",
        ADMIN_TOKEN=ADMIN_TOKEN,
        SCHEDULER_ENABLED=False,
        # the route specifications share this app: its what-if rate is not what they test (tests/api/test_limits.py)
        COMPUTE_RATE_PER_MIN=100_000,
        COMPUTE_BURST=1000,
    )
    with TestClient(create_app(settings)) as c:
        # start-up loads (or first computes) the version in the background: wait for it, as /ready would
        assert c.app.state.service.wait_started(START_TIMEOUT_S), "the in-process app did not become ready"
        yield c


@pytest.fixture()
def client(app_client: TestClient) -> TestClient:
    return app_client


@pytest.fixture()
def live_client(server: str) -> Iterator[httpx.Client]:
    """A client of the real uvicorn process (end-to-end: processes, signals, compression on the wire)."""
    with httpx.Client(base_url=server, timeout=30.0) as c:
        yield c


@pytest.fixture()
def browser():
    """A real headless Chromium with a fresh profile; files it downloads land in ``browser.downloads``."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1500,1900",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"))
    downloads = Path(profile) / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
