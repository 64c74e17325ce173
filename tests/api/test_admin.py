"""Admin API against real uvicorn processes: auth, refresh, versions, diff, rollback, replicas."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.api.conftest import ADMIN_TOKEN, start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
POLL_S = 1.0
SWITCH_DEADLINE_S = 20.0


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """Two replicas on one SQLite database, polling for the active version every second."""
    db = tmp_path_factory.mktemp("admin") / "shared.db"
    env = {
        "DATABASE_URL": f"sqlite:///{db}",
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "VERSION_POLL_S": str(POLL_S),
        "SCHEDULER_ENABLED": "true",
        "REFRESH_CRON": "0 0 1 1 *",
        "MONTE_CARLO_PATHS": "500",
        "REFRESH_ALLOWED_SOURCES": tempfile.gettempdir(),
    }
    a, base_a = start_server(env)
    b, base_b = start_server({**env, "REFRESH_ON_START": "false"})
    yield base_a, base_b
    stop_server(a)
    stop_server(b)


@pytest.fixture()
def changed_dir(tmp_path) -> Path:
    d = tmp_path / "changed"
    shutil.copytree(ROOT / "assumptions", d)
    data = yaml.safe_load((d / "parameters.yaml").read_text())
    data["ev.motor_kg.BEV"]["value"] = round(1.4 + (time.time_ns() % 1000) / 10000, 4)  # a new version each run
    (d / "parameters.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return d


def test_admin_calls_need_the_right_token(replicas):
    base, _ = replicas
    for method, path in (
        ("POST", "/v1/assumptions/refresh"),
        ("GET", "/v1/assumptions/versions"),
        ("GET", "/v1/assumptions/versions/abc/diff"),
        ("POST", "/v1/assumptions/versions/abc/activate"),
    ):
        assert httpx.request(method, base + path).status_code == 401, path
        wrong = httpx.request(method, base + path, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        assert wrong.json()["details"][0]["parameter"] == "Authorization"


def test_without_a_configured_token_the_admin_api_is_disabled(server):
    # the session server has a token; start one without
    proc, base = start_server(
        {
            "DATABASE_URL": "sqlite:///" + str(Path("/tmp") / f"noadmin-{time.time_ns()}.db"),
            "SCHEDULER_ENABLED": "false",
            "MONTE_CARLO_PATHS": "500",
        }
    )
    try:
        r = httpx.get(base + "/v1/assumptions/versions", headers={"Authorization": "Bearer anything"})
        assert r.status_code == 403
        assert "disabled" in r.json()["error"]
    finally:
        stop_server(proc)


def _version(base: str) -> str:
    return httpx.get(base + "/health").json()["assumptions_version"]


def test_refresh_diff_rollback_and_replicas_follow(replicas, changed_dir):
    a, b = replicas
    v0 = _version(a)
    assert _version(b) == v0
    r = httpx.post(a + "/v1/assumptions/refresh", json={"source": str(changed_dir)}, headers=AUTH, timeout=300)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "activated", r.text
    v1 = r.json()["version"]
    assert _version(a) == v1 != v0
    assert httpx.get(a + "/v1/demand", params={"start": 2030, "end": 2030}).headers["x-assumptions-version"] == v1
    deadline = time.monotonic() + SWITCH_DEADLINE_S  # the other replica switches on its next poll
    while _version(b) != v1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _version(b) == v1

    versions = httpx.get(a + "/v1/assumptions/versions", headers=AUTH).json()["versions"]
    assert {v["id"]: v["status"] for v in versions}[v0] == "superseded"
    diff = httpx.get(f"{a}/v1/assumptions/versions/{v1}/diff", headers=AUTH).json()
    assert diff["previous"] == v0
    assert any(c["key"] == "ev.motor_kg.BEV" and c["old"] == 1.5 for c in diff["changes"])

    back = httpx.post(f"{a}/v1/assumptions/versions/{v0}/activate", headers=AUTH)
    assert back.status_code == 200
    assert _version(a) == v0
    deadline = time.monotonic() + SWITCH_DEADLINE_S
    while _version(b) != v0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _version(b) == v0
    assert httpx.get(f"{a}/v1/assumptions/versions/zzzzzz/diff", headers=AUTH).status_code == 404


def test_a_rejected_refresh_keeps_serving_the_last_good_version(replicas, tmp_path):
    a, _ = replicas
    before = _version(a)
    bad = tmp_path / "bad"
    shutil.copytree(ROOT / "assumptions", bad)
    (bad / "model.yaml").write_text("horizon: [broken")
    r = httpx.post(a + "/v1/assumptions/refresh", json={"source": str(bad)}, headers=AUTH, timeout=120)
    assert r.status_code == 422
    assert r.json()["status"] == "rejected"
    assert any("model.yaml" in reason for reason in r.json()["reasons"])
    assert _version(a) == before
    runs = httpx.get(a + "/v1/assumptions/versions", headers=AUTH).json()["runs"]
    assert runs[0]["status"] == "rejected"
    assert runs[0]["reasons"]
