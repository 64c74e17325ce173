"""A real uvicorn process on loopback, started once for the API tests."""

from __future__ import annotations

import os
import shutil
import socket
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
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str] | None = None, log_path: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start uvicorn on a free loopback port and wait until /ready answers 200.

    Logs go to a file: a pipe nobody reads would fill up and block the server.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = log_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"magnet-forecast-uvicorn-{port}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    proc.log_path = log_path  # type: ignore[attr-defined]
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited: {log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/ready", timeout=1.0).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("uvicorn did not become ready")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


ADMIN_TOKEN = "test-admin-token"


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("db") / "service.db"
    proc, base = start_server(
        {
            "BENCH_ROUTES": "0",
            "DATABASE_URL": f"sqlite:///{db}",
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "SCHEDULER_ENABLED": "false",
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
    )
    with TestClient(create_app(settings)) as c:
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
    driver.downloads = downloads  # type: ignore[attr-defined]
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
