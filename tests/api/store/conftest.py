"""Real databases for the store tests: a SQLite file, and a PostgreSQL server started on loopback."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[3]
BUNDLED = ROOT / "assumptions"
PG_START_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found: install the Debian package 'postgresql'")
    return found[-1]


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; the Debian package provides the 'postgres' user.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on 127.0.0.1; yields the server URL (no database)."""
    base = Path(tempfile.mkdtemp(prefix="magnet-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    subprocess.run(
        _as_postgres([_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(base / "log"),
                "-w",
                "-t",
                str(PG_START_TIMEOUT_S),
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    try:
        yield url
    finally:
        subprocess.run(
            _as_postgres([_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)


def _new_pg_database(server: str) -> str:
    name = "t_" + uuid.uuid4().hex[:12]
    engine = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{server}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return _new_pg_database(request.getfixturevalue("pg_server"))


def copy_assumptions(dst: Path) -> Path:
    shutil.copytree(BUNDLED, dst)
    return dst


def edit_parameter(directory: Path, name: str, **fields) -> None:
    path = directory / "parameters.yaml"
    data = yaml.safe_load(path.read_text())
    data[name].update(fields)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture()
def changed_dir(tmp_path) -> Path:
    """Bundled assumptions with one sourced change: 1.6 kg of magnet per EV motor."""
    d = copy_assumptions(tmp_path / "changed")
    edit_parameter(d, "ev.motor_kg.BEV", value=1.6)
    return d


def wait_for(predicate, timeout_s: float = 60.0, step_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return False
