"""One refresh at a time across processes and replicas sharing a database.

PostgreSQL: a session advisory lock, released by the server when the holder's connection dies.
SQLite: a row in ``locks`` naming host and pid; a holder that no longer exists on this host is stale.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import delete, insert, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from api.store.db import Lock, now


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _advisory_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class LockBusy(Exception):
    """Another process holds the lock."""


@contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[None]:
    """Hold the named lock for the duration of the block, or raise LockBusy at once."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _advisory_key(name)}).scalar()
            conn.commit()
            if not got:
                raise LockBusy(name)
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _advisory_key(name)})
                conn.commit()
        return
    me = holder_id()
    _acquire_row(engine, name, me)
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(delete(Lock).where(Lock.name == name, Lock.holder == me))


def _acquire_row(engine: Engine, name: str, me: str) -> None:
    for _ in range(2):
        try:
            with engine.begin() as conn:
                conn.execute(insert(Lock).values(name=name, holder=me, acquired_at=now()))
            return
        except (IntegrityError, OperationalError):
            with engine.begin() as conn:
                if _steal_if_stale(conn, name):
                    continue
            raise LockBusy(name) from None
    raise LockBusy(name)


def _steal_if_stale(conn: Connection, name: str) -> bool:
    row = conn.execute(select(Lock.holder).where(Lock.name == name)).scalar()
    if row is None:
        return True
    host, _, pid = row.rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid)):
        conn.execute(delete(Lock).where(Lock.name == name, Lock.holder == row))
        return True
    return False
