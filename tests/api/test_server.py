"""The shipped server command holds under hostile clients and load (real server processes on loopback):
bounded request heads, a deadline to send a request, idle connections closed, what-if floods answered
429/503 with Retry-After while /health answers, failed admin attempts throttled, weak tokens refused;
and requests with non-finite numbers, oversized chunked bodies or flat trajectory overrides get clear
answers."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.api.conftest import ADMIN_TOKEN, copy_sqlite, launch_server, start_server, stop_server

READ_TIMEOUT_S = 1.0
HEAD_LIMIT = 8192
FLOOD = 24
HEALTH_DURING_FLOOD_S = 2.0  # the image's health check gives up at 3 s


@pytest.fixture(scope="module")
def tight(server, server_db, tmp_path_factory):
    """A second server on a copy of the session database, with small limits."""
    url = copy_sqlite(server_db, tmp_path_factory.mktemp("tight") / "tight.db")
    proc, base = start_server(
        {
            "DATABASE_URL": url,
            "SCHEDULER_ENABLED": "false",
            "REFRESH_ON_START": "false",
            "REQUEST_READ_TIMEOUT_S": str(READ_TIMEOUT_S),
            "MAX_HEADER_BYTES": str(HEAD_LIMIT),
            "COMPUTE_CONCURRENCY": "1",
            "COMPUTE_QUEUE_S": "0.2",
            "COMPUTE_RATE_PER_MIN": "60",
            "COMPUTE_BURST": str(FLOOD + 6),
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "ADMIN_MAX_FAILURES": "3",
            "ADMIN_FAILURE_WINDOW_S": "3",
        }
    )
    yield base
    stop_server(proc)


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True if the server closes the connection (or answers and closes) within the time."""
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
        return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_a_request_head_over_the_limit_is_refused_with_431(tight):
    with _connect(tight) as s:  # in one read
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (HEAD_LIMIT * 2) + b"\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 431")
    with _connect(tight) as s:  # streamed without end: refused long before a gigabyte
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        try:
            while sent < 50 * 1024 * 1024:
                s.sendall(b"a" * 4096)
                sent += 4096
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert sent < 32 * 1024 * 1024  # what the loopback socket buffers hold: the server stopped reading
    assert httpx.get(tight + "/health", headers={"X-Fine": "a" * (HEAD_LIMIT // 2)}).status_code == 200


def test_a_slow_or_idle_connection_is_closed_after_the_read_deadline(tight):
    with _connect(tight) as slow, _connect(tight) as idle:
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        start = time.monotonic()
        assert _closed_within(slow, READ_TIMEOUT_S + 3)
        assert _closed_within(idle, READ_TIMEOUT_S + 3)
        assert time.monotonic() - start < READ_TIMEOUT_S + 3


def test_many_idle_connections_do_not_lock_out_real_clients(tight):
    idle = [_connect(tight) for _ in range(200)]
    try:
        time.sleep(READ_TIMEOUT_S + 1)
        assert httpx.get(tight + "/health", timeout=5).status_code == 200
        assert all(_closed_within(s, 2) for s in idle)
    finally:
        for s in idle:
            s.close()


def test_a_what_if_flood_is_bounded_and_health_answers_throughout(tight):
    body = {"scenario": "base", "start": 2024, "end": 2035}
    health_s: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=10) as c:
            while not done.is_set():
                t = time.perf_counter()
                assert c.get(tight + "/health").status_code == 200
                health_s.append(time.perf_counter() - t)
                time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    with ThreadPoolExecutor(FLOOD) as pool:
        answers = list(pool.map(lambda _: httpx.post(tight + "/v1/forecast", json=body, timeout=60), range(FLOOD)))
    done.set()
    prober.join()
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) <= {200, 503}, statuses
    assert 200 in statuses, statuses
    assert 503 in statuses, statuses
    for r in answers:
        if r.status_code == 503:
            assert int(r.headers["retry-after"]) >= 1
            assert r.json()["error"] == "busy"
    assert health_s, "no /health timing was recorded"
    assert max(health_s) < HEALTH_DURING_FLOOD_S, max(health_s)
    # the same client keeps sending, quickly (invalid bodies cost a token too): its rate runs out
    later = [httpx.post(tight + "/v1/forecast", json={"scenario": 5}, timeout=60) for _ in range(FLOOD + 12)]
    assert {r.status_code for r in later} == {422, 429}
    assert all(int(r.headers["retry-after"]) >= 1 for r in later if r.status_code == 429)


def test_failed_admin_attempts_are_throttled(tight):
    wrong = {"Authorization": "Bearer " + "w" * 40}
    right = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for _ in range(3):
        assert httpx.get(tight + "/v1/assumptions/versions", headers=wrong).status_code == 403
    blocked = httpx.get(tight + "/v1/assumptions/versions", headers=right)
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    time.sleep(3.2)
    assert httpx.get(tight + "/v1/assumptions/versions", headers=right).status_code == 200


def test_an_admin_token_under_32_characters_stops_the_start(tmp_path):
    proc, _ = launch_server({"ADMIN_TOKEN": "short", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert proc.wait(timeout=60) != 0
    assert "at least 32" in proc.log_path.read_text()


# --- On the session server --------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_get_422_naming_the_field(live_client, number):
    for raw, field in (
        (f'{{"overrides": {{"ev.motor_kg.BEV": {number}}}}}', "overrides.ev.motor_kg.BEV"),
        (
            f'{{"extra_projects": [{{"id": "p", "stage": "magnet", "unit": "t_NdFeB_magnet", '
            f'"capacity": {number}, "first_year": 2030}}]}}',
            "extra_projects.0.capacity",
        ),
    ):
        r = live_client.post("/v1/forecast", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422, r.text
        assert field in [d["parameter"] for d in r.json()["details"]]


def test_a_chunked_body_over_the_limit_gets_413(live_client):
    def chunks():
        for _ in range(200):
            yield b" " * 1024

    r = live_client.post("/v1/forecast", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["details"][0]["parameter"] == "body"


def test_a_number_for_a_trajectory_parameter_is_applied_to_every_anchor(client):
    def bev_2040(overrides):
        body = {"overrides": {"drivers.ev_car_steps_weight": 1.0, **overrides}, "start": 2040, "end": 2040}
        r = client.post("/v1/forecast", json=body)
        assert r.status_code == 200, r.text
        return sum(
            d["value"]
            for d in r.json()["demand"]
            if d["segment"] == "ev_bev" and d["material"] == "NdFeB" and d["unit"] == "t_magnet"
        )

    anchors = client.get("/v1/assumptions").json()["parameters"]
    steps = next(p for p in anchors if p["name"] == "drivers.ev_car_sales_steps")["trajectory"]
    flat = bev_2040({"drivers.ev_car_sales_steps": {y: 9.0e7 for y in steps}})
    assert bev_2040({"drivers.ev_car_sales_steps": 9.0e7}) == pytest.approx(flat)
    assert flat > bev_2040({})  # more cars than the IEA path: more magnet, never less


def test_gzip_bodies_are_made_once_and_served_from_the_cache(live_client):
    params = {"scenario": "base", "quantiles": "true"}
    first, second = (_raw_gzip(str(live_client.base_url), params) for _ in range(2))
    assert first == second  # the cached compressed bytes, not a new compression
    plain = live_client.get("/v1/demand", params=params, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert gzip.decompress(first) == plain.content


def _raw_gzip(base: str, params: dict) -> bytes:
    with httpx.stream("GET", base + "/v1/demand", params=params, headers={"accept-encoding": "gzip"}) as r:
        assert r.headers["content-encoding"] == "gzip"
        return b"".join(r.iter_raw())
