"""The refresh lock is a lease on SQLite and PostgreSQL alike: a dead holder is replaced after the lease,
whoever and wherever it was; a live one keeps it by its heartbeat; one that lost it cannot commit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from api.store.locks import LeaseLost, LockBusy, acquire, exclusive
from api.store.repository import Store

LEASE_S = 2.0
HOLD = """
import sys, time
from api.store.locks import exclusive
from api.store.repository import Store
store = Store(sys.argv[1])
with exclusive(store.engine, "refresh", float(sys.argv[2])):
    print("held", flush=True)
    time.sleep(3600)
"""


@pytest.fixture()
def store(db_url) -> Store:
    s = Store(db_url)
    s.migrate()
    return s


def _holder(url: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, url, str(LEASE_S)], stdout=subprocess.PIPE, text=True, env=os.environ
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_holder_killed_with_9_is_replaced_once_its_lease_runs_out(store):
    proc = _holder(store.url)
    try:
        time.sleep(LEASE_S * 1.5)  # alive: its heartbeat keeps the lease past its first length
        with pytest.raises(LockBusy):
            acquire(store.engine, "refresh", LEASE_S)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    deadline = time.monotonic() + LEASE_S * 3
    while True:
        try:
            lease = acquire(store.engine, "refresh", LEASE_S)
            break
        except LockBusy:
            assert time.monotonic() < deadline, "the dead holder's lease never ran out"
            time.sleep(0.2)
    lease.release()


def test_a_holder_from_another_container_that_was_pid_1_is_replaced(store):
    """The host-and-pid scheme never released these; a lease does not look at them at all."""
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO locks (name, holder, acquired_at, token, expires_at) "
                "VALUES ('refresh', 'gone-container:1', CURRENT_TIMESTAMP, 'old', 0)"
            )
        )
    with exclusive(store.engine, "refresh", LEASE_S) as lease:
        assert not lease.lost.is_set()


def test_the_lock_is_exclusive_while_held_and_free_after(store):
    with exclusive(store.engine, "refresh", LEASE_S), pytest.raises(LockBusy):
        acquire(store.engine, "refresh", LEASE_S)
    acquire(store.engine, "refresh", LEASE_S).release()


def test_a_holder_whose_lease_was_taken_cannot_commit(store):
    stale = acquire(store.engine, "refresh", 1.0)
    time.sleep(1.3)  # no heartbeat: the lease runs out
    thief = acquire(store.engine, "refresh", LEASE_S)
    with store.engine.begin() as conn, pytest.raises(LeaseLost):
        stale.still_held(conn)
    assert stale.lost.is_set()
    with store.engine.begin() as conn:
        thief.still_held(conn)
    thief.release()
