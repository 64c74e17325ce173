"""Start-up that serves and shutdown that stops, on real server processes: a stored version is served at
once while a slow refresh runs; SIGTERM cancels that refresh and removes its working copy; two replicas
on an empty database serve the first one's version; a database down at start is retried and reported,
and down later gives 503 on the admin API while the version in memory is still served."""

from __future__ import annotations

import json
import signal
import time

import httpx
import pytest

from api.settings import Settings
from api.store.locks import acquire
from api.store.refresh import WORKDIR_PREFIX, refresh
from api.store.repository import Store
from tests.api.conftest import ADMIN_TOKEN, copy_sqlite, launch_server, stop_server, wait_ready
from tests.api.store.conftest import BUNDLED, wait_for
from tests.pg import PgCluster

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
STOP_BOUND_S = 30.0  # GRACEFUL_SHUTDOWN_S (5 here) + SHUTDOWN_REFRESH_WAIT_S (5) + process exit
N_PATHS = "300"


def _ready(base: str) -> httpx.Response:
    return httpx.get(base + "/ready", timeout=5)


def test_a_stored_version_is_served_at_once_and_sigterm_cancels_a_slow_refresh(
    server, server_db, changed_dir, tmp_path
):
    url = copy_sqlite(server_db, tmp_path / "copy.db")
    data = tmp_path / "data"
    proc, base = launch_server(
        {
            "DATABASE_URL": url,
            "MAGNET_FORECAST_DATA_DIR": str(data),
            "MAGNET_FORECAST_CACHE": str(Settings().fit_cache_dir()),
            "REFRESH_SOURCE": str(changed_dir),
            "REFRESH_ON_START": "true",
            "SCHEDULER_ENABLED": "false",
            "MAGNET_FORECAST_FAULT_PAUSE": "fetched",  # the refresh source is slow: it stops after fetching
            "GRACEFUL_SHUTDOWN_S": "5",
            "SHUTDOWN_REFRESH_WAIT_S": "5",
        }
    )
    try:
        wait_ready(proc, base, 60)
        assert wait_for(lambda: "paused at fetched" in proc.log_path.read_text(), 60)
        served = _ready(base).json()["assumptions_version"]
        assert served == httpx.get(server + "/health").json()["assumptions_version"]
        assert len(list((data / "tmp").glob(f"{WORKDIR_PREFIX}*"))) == 1
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=STOP_BOUND_S)
        assert time.monotonic() - start < STOP_BOUND_S
    finally:
        if proc.poll() is None:
            proc.kill()
    assert list((data / "tmp").glob(f"{WORKDIR_PREFIX}*")) == []
    store = Store(url)
    run = store.runs()[0]
    assert run["status"] == "failed", run
    assert "cancelled" in run["reasons"][0], run
    acquire(store.engine, "refresh", 5).release()  # the lock was given back
    assert store.active().short_id == served


def test_two_replicas_on_an_empty_database_both_serve_the_first_ones_version(pg_cluster):
    url = pg_cluster.new_database()
    env = {"DATABASE_URL": url, "SCHEDULER_ENABLED": "false", "MONTE_CARLO_PATHS": N_PATHS, "REFRESH_LEASE_S": "5"}
    a, base_a = launch_server(env)
    b, base_b = launch_server(env)
    try:
        wait_ready(a, base_a, 400)
        wait_ready(b, base_b, 400)
        versions = {_ready(x).json()["assumptions_version"] for x in (base_a, base_b)}
        assert len(versions) == 1
        stored = Store(url).versions()
        assert [v.short_id for v in stored] == list(versions)
    finally:
        stop_server(a)
        stop_server(b)


@pytest.fixture()
def own_pg():
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.remove()


def test_a_database_down_at_start_is_retried_and_down_later_answers_503(own_pg):
    url = own_pg.new_database()
    store = Store(url)
    store.migrate()
    assert refresh(store, str(BUNDLED), Settings(MONTE_CARLO_PATHS=int(N_PATHS))).status == "activated"
    store.engine.dispose()
    own_pg.stop()
    proc, base = launch_server(
        {
            "DATABASE_URL": url,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "REFRESH_ON_START": "false",
            "VERSION_POLL_S": "0.5",
            "START_RETRY_MAX_S": "1",
            "REFRESH_CRON": "0 0 1 1 *",
        }
    )
    try:
        assert wait_for(lambda: _ready_body(base).get("reason", "").startswith("database unavailable"), 60)
        assert httpx.get(base + "/health").status_code == 200
        own_pg.start()
        wait_ready(proc, base, 120)
        assert httpx.get(base + "/v1/assumptions/versions", headers=AUTH).status_code == 200

        own_pg.stop()  # down while serving
        down = httpx.get(base + "/v1/assumptions/versions", headers=AUTH)
        assert down.status_code == 503, down.text
        assert down.json()["error"] == "database unavailable", down.text
        assert int(down.headers["retry-after"]) >= 1
        assert "OperationalError" in down.json()["details"][0]["message"]
        assert httpx.get(base + "/v1/demand", params={"start": 2030, "end": 2030}).status_code == 200
        assert wait_for(lambda: _ready_body(base)["database"].startswith("database unavailable"), 30)
        assert _ready(base).status_code == 200  # the version in memory is still served
        logged = [json.loads(line) for line in proc.log_path.read_text().splitlines() if line.startswith("{")]
        errors = [e for e in logged if e.get("msg") == "database error"]
        assert errors
        assert "Traceback" in errors[-1]["exc"]
        assert errors[-1]["exc_type"] == "OperationalError"

        own_pg.start()
        assert wait_for(lambda: httpx.get(base + "/v1/assumptions/versions", headers=AUTH).status_code == 200, 60, 0.5)
    finally:
        stop_server(proc)


def _ready_body(base: str) -> dict:
    try:
        return _ready(base).json()
    except httpx.HTTPError:
        return {}
