"""Real databases for the store tests: a SQLite file, and a PostgreSQL server started on loopback."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.pg import PgCluster

ROOT = Path(__file__).resolve().parents[3]
BUNDLED = ROOT / "assumptions"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A throw-away PostgreSQL cluster on 127.0.0.1 shared by the session (never stopped by a test)."""
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def pg_server(pg_cluster) -> str:
    """The shared cluster's server URL (no database)."""
    return pg_cluster.url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_cluster").new_database()


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
