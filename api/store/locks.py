"""One refresh at a time across processes, containers and replicas sharing a database: a lease.

The lock is a row in ``locks`` with a random token and an expiry on the database's own clock (so the
replicas' clocks do not matter). The holder renews it from a heartbeat thread; a holder that dies in
any way (kill -9, a lost container, a frozen host) stops renewing and is replaced once the lease has
run out. The same code runs on SQLite and PostgreSQL. A holder that has lost its lease finds out at
its next heartbeat or, at the latest, when it tries to commit (``still_held`` in the same transaction).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

DEFAULT_LEASE_S = 60.0
HEARTBEATS_PER_LEASE = 3  # renew three times per lease: one missed beat does not lose it


def holder_id() -> str:
    """Who holds a lock, for people reading the table (never used to decide anything)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def db_now_s(conn: Connection) -> str:
    """SQL for the database's current time in seconds since the epoch."""
    if conn.dialect.name == "postgresql":
        return "extract(epoch from clock_timestamp())"
    return "((julianday('now') - 2440587.5) * 86400.0)"


_HELD: set[Lease] = set()  # this process's leases, released at shutdown


def release_all() -> None:
    """Release every lease this process holds (at shutdown, when a holder cannot finish by itself)."""
    for lease in list(_HELD):
        with contextlib.suppress(Exception):  # the lease runs out by itself
            lease.release()
        lease.lost.set()
        _HELD.discard(lease)


class LockBusy(Exception):
    """Another live holder has the lock."""


class LeaseLost(Exception):
    """This holder's lease ran out and someone else may hold the lock now."""


@dataclass(eq=False)
class Lease:
    """A held lock: its name, token and length; ``lost`` is set when a heartbeat finds it gone."""

    engine: Engine
    name: str
    token: str
    lease_s: float
    lost: threading.Event = field(default_factory=threading.Event)

    def renew(self, conn: Connection | None = None) -> bool:
        """Extend the lease; False (and ``lost`` set) if it is no longer ours."""

        def run(c: Connection) -> bool:
            n = c.execute(
                text(
                    f"UPDATE locks SET expires_at = {db_now_s(c)} + :lease "
                    f"WHERE name = :name AND token = :token AND expires_at > {db_now_s(c)}"
                ),
                {"lease": self.lease_s, "name": self.name, "token": self.token},
            ).rowcount
            return n == 1

        if conn is not None:
            ok = run(conn)
        else:
            with self.engine.begin() as c:
                ok = run(c)
        if not ok:
            self.lost.set()
        return ok

    def still_held(self, conn: Connection) -> None:
        """Inside a writing transaction: raise LeaseLost unless the lease is still ours (and extend it)."""
        if self.lost.is_set() or not self.renew(conn):
            raise LeaseLost(self.name)

    def release(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text("DELETE FROM locks WHERE name = :name AND token = :token"),
                {"name": self.name, "token": self.token},
            )


def lease_alive(conn: Connection, name: str) -> bool:
    """Someone holds the named lock and its lease has not run out."""
    row = conn.execute(
        text(f"SELECT 1 FROM locks WHERE name = :name AND expires_at > {db_now_s(conn)}"), {"name": name}
    ).first()
    return row is not None


def acquire(engine: Engine, name: str, lease_s: float = DEFAULT_LEASE_S) -> Lease:
    """Take the named lock, or raise LockBusy at once if a live holder has it."""
    token = uuid.uuid4().hex
    params = {"name": name, "token": token, "holder": holder_id(), "lease": lease_s}
    with engine.begin() as conn:
        now = db_now_s(conn)
        taken = conn.execute(
            text(
                f"UPDATE locks SET token = :token, holder = :holder, acquired_at = CURRENT_TIMESTAMP, "
                f"expires_at = {now} + :lease WHERE name = :name AND expires_at <= {now}"
            ),
            params,
        ).rowcount
    if taken == 1:
        return Lease(engine, name, token, lease_s)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO locks (name, token, holder, acquired_at, expires_at) "
                    f"VALUES (:name, :token, :holder, CURRENT_TIMESTAMP, {db_now_s(conn)} + :lease)"
                ),
                params,
            )
    except (IntegrityError, OperationalError):
        raise LockBusy(name) from None
    return Lease(engine, name, token, lease_s)


@contextmanager
def exclusive(engine: Engine, name: str, lease_s: float = DEFAULT_LEASE_S) -> Iterator[Lease]:
    """Hold the named lock for the block, renewed by a heartbeat; raise LockBusy at once if it is taken."""
    lease = acquire(engine, name, lease_s)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lease_s / HEARTBEATS_PER_LEASE):
            try:
                if not lease.renew():
                    return
            except Exception:  # database unreachable for a moment: the next beat tries again
                continue

    heart = threading.Thread(target=beat, name=f"lease-{name}", daemon=True)
    heart.start()
    _HELD.add(lease)
    try:
        yield lease
    finally:
        _HELD.discard(lease)
        stop.set()
        heart.join(timeout=5)
        with contextlib.suppress(Exception):  # the lease runs out by itself
            lease.release()
