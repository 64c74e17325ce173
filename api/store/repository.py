"""The store: versions (immutable, content-addressed), refresh runs, activation and rollback."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.serialization import ArchiveError, OutdatedFormat
from api.serialization import dump_bundle as _dump_bundle
from api.serialization import load_bundle as _load_bundle
from api.store.db import RefreshRun, Version, default_database_url, make_engine, now
from api.store.locks import DEFAULT_LEASE_S, Lease, exclusive, lease_alive
from forecast.bundle import ForecastBundle
from forecast.loading import AssumptionsError, load_assumptions
from forecast.schemas import Assumptions

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
REFRESH_LOCK = "refresh"
ENDED_EARLY = "process ended before the refresh finished"
MIGRATION_LOCK_KEY = 0x6D6167666F7265  # PostgreSQL advisory key held while migrating ("magfore")


@dataclass(frozen=True)
class VersionInfo:
    id: str
    short_id: str
    status: str
    created_at: datetime
    origin: str
    previous_id: str | None
    pinned: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.short_id,
            "hash": self.id,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "origin": self.origin,
            "previous": self.previous_id[:12] if self.previous_id else None,
            "pinned": self.pinned,
        }


class UnknownVersion(KeyError):
    pass


class OutdatedBundle(Exception):
    """A version's stored forecast was computed by another format of the code; rebuild it from its files."""


class InvalidBundle(OutdatedBundle):
    """A version's stored forecast is not a valid archive (damaged or tampered with): refused, never
    executed; like an outdated one it can be rebuilt from the version's files."""


def _info(v: Version) -> VersionInfo:
    return VersionInfo(v.id, v.short_id, v.status, v.created_at, v.origin, v.previous_id, bool(v.pinned))


def dump_bundle(bundle: ForecastBundle) -> bytes:
    """A computed forecast as stored with its version: tables and JSON (api.serialization), no code."""
    return _dump_bundle(bundle)


def _load_zipped(blob: bytes) -> Assumptions:
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            zf.extractall(tmp)
        return load_assumptions(tmp)


def zip_dir(directory: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(directory).as_posix())
    return buf.getvalue()


class Store:
    """Versions and refresh runs in a SQL database (SQLite or PostgreSQL)."""

    def __init__(self, url: str | None = None):
        self.url = url or default_database_url()
        self.engine: Engine = make_engine(self.url)

    def migrate(self) -> None:
        """Bring the schema to the latest Alembic revision."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # replicas starting together migrate one after the other
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    # --- reading -------------------------------------------------------------------------------
    def versions(self) -> list[VersionInfo]:
        with Session(self.engine) as s:
            rows = s.scalars(select(Version).order_by(Version.created_at.desc())).all()
            return [_info(v) for v in rows]

    def active(self) -> VersionInfo | None:
        with Session(self.engine) as s:
            v = s.scalars(select(Version).where(Version.status == "active")).first()
            return _info(v) if v else None

    def _get(self, s: Session, ref: str) -> Version:
        v = s.get(Version, ref)
        if v is None:
            v = s.scalars(select(Version).where(Version.short_id == ref[:12])).first() if len(ref) >= 6 else None
        if v is None:
            raise UnknownVersion(ref)
        return v

    def info(self, ref: str) -> VersionInfo:
        with Session(self.engine) as s:
            return _info(self._get(s, ref))

    def diff(self, ref: str) -> dict[str, Any]:
        with Session(self.engine) as s:
            v = self._get(s, ref)
            return {
                "id": v.short_id,
                "previous": v.previous_id[:12] if v.previous_id else None,
                "changes": json.loads(v.diff),
                "validation_report": json.loads(v.validation_report),
            }

    def load_bundle(self, ref: str) -> ForecastBundle:
        """The computed forecast stored with a version (no refitting).

        Raises OutdatedBundle when it was stored by another bundle format or its files by another
        assumptions format, InvalidBundle when it is not a valid archive (refused, never executed).
        """
        with Session(self.engine) as s:
            v = self._get(s, ref)
            if v.bundle is None:
                raise UnknownVersion(f"{ref}: no computed forecast stored")
            blob, files, short = v.bundle, v.files, v.short_id
        what = f"version {short}: stored forecast"
        try:
            assumptions = _load_zipped(files)
        except AssumptionsError as err:
            raise OutdatedBundle(
                f"version {short}: stored files in another assumptions format ({err.problems[0]})"
            ) from None
        try:
            return _load_bundle(blob, assumptions, what)
        except OutdatedFormat as exc:
            raise OutdatedBundle(str(exc)) from None
        except ArchiveError as exc:
            raise InvalidBundle(str(exc)) from None

    def save_bundle(self, ref: str, bundle: ForecastBundle) -> None:
        """Replace a version's stored forecast (after a rebuild); its files and id are unchanged."""
        blob = dump_bundle(bundle)
        with Session(self.engine) as s, s.begin():
            self._get(s, ref).bundle = blob

    def load_assumptions(self, ref: str) -> Assumptions:
        """A version's stored files, loaded and validated (AssumptionsError if this code cannot read them)."""
        with Session(self.engine) as s:
            blob = self._get(s, ref).files
        return _load_zipped(blob)

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest refresh runs; one still marked running while nobody holds the refresh lease ended
        with its process and is shown as failed (the next refresh records it so)."""
        with Session(self.engine) as s:
            rows = s.scalars(select(RefreshRun).order_by(RefreshRun.id.desc()).limit(limit)).all()
            held = lease_alive(s.connection(), REFRESH_LOCK)
            return [
                {
                    "id": r.id,
                    "started_at": r.started_at.isoformat(),
                    "status": "failed" if r.status == "running" and not held else r.status,
                    "source": r.source,
                    "reasons": [ENDED_EARLY] if r.status == "running" and not held else json.loads(r.reasons),
                    "version": r.version_id[:12] if r.version_id else None,
                }
                for r in rows
            ]

    # --- writing -------------------------------------------------------------------------------
    def start_run(self, source: str, holder: str) -> int:
        with Session(self.engine) as s, s.begin():
            run = RefreshRun(started_at=now(), source=source, holder=holder, status="running", reasons="[]")
            s.add(run)
            s.flush()
            return run.id

    def finish_run(self, run_id: int, status: str, reasons: list[str], version_id: str | None = None) -> None:
        with Session(self.engine) as s, s.begin():
            s.execute(
                update(RefreshRun)
                .where(RefreshRun.id == run_id)
                .values(status=status, reasons=json.dumps(reasons), version_id=version_id, finished_at=now())
            )

    def abandon_stale_runs(self) -> None:
        """Runs still marked running when the refresh lock is free were killed: mark them failed."""
        with Session(self.engine) as s, s.begin():
            s.execute(
                update(RefreshRun)
                .where(RefreshRun.status == "running")
                .values(
                    status="failed",
                    reasons=json.dumps([ENDED_EARLY]),
                    finished_at=now(),
                )
            )

    def known(self, version_id: str) -> bool:
        """A version with this full id is stored (whatever its status)."""
        with Session(self.engine) as s:
            return s.get(Version, version_id) is not None

    def add_version(
        self, v: Version, activate: bool, run_id: int, pause: Any = None, lease: Lease | None = None
    ) -> None:
        """Insert a version and, when asked, make it the only active one, in one transaction.

        With ``lease``, the transaction commits only if the refresh lock is still this holder's.
        """
        with Session(self.engine) as s, s.begin():
            if lease is not None:
                lease.still_held(s.connection())
            existing = s.get(Version, v.id)
            if existing is None:
                s.add(v)
            elif activate:
                existing.status = v.status
            if activate:
                s.execute(
                    update(Version).where(Version.status == "active", Version.id != v.id).values(status="superseded")
                )
                s.execute(update(Version).values(pinned=False))  # new content ends a rollback's pin
                s.execute(update(Version).where(Version.id == v.id).values(status="active"))
            s.execute(
                update(RefreshRun)
                .where(RefreshRun.id == run_id)
                .values(
                    status="activated" if activate else "rejected",
                    version_id=v.id,
                    finished_at=now(),
                    reasons=v.validation_report if not activate else "[]",
                )
            )
            if pause is not None:
                pause("committing")  # fault-injection point: dies inside the open transaction

    def activate(self, ref: str, lease_s: float = DEFAULT_LEASE_S) -> VersionInfo:
        """Make a stored, non-rejected version the active one (rollback), under the refresh lock.

        The version is pinned: a refresh (scheduled, or at a restart) that brings content already stored
        does not replace it; new content, or ``unpin``, ends the pin.
        """
        with exclusive(self.engine, REFRESH_LOCK, lease_s), Session(self.engine) as s, s.begin():
            v = self._get(s, ref)
            if v.status == "rejected" or v.bundle is None:
                raise ValueError(f"version {v.short_id} was rejected and cannot be activated")
            try:
                _load_zipped(v.files)
            except AssumptionsError as err:
                raise ValueError(
                    f"version {v.short_id} was stored in a format this code cannot read "
                    f"({err.problems[0]}); refresh from its source instead"
                ) from None
            s.execute(update(Version).where(Version.status == "active", Version.id != v.id).values(status="superseded"))
            s.execute(update(Version).where(Version.id != v.id).values(pinned=False))
            v.status = "active"
            v.pinned = True
            s.flush()
            return _info(v)

    def unpin(self) -> VersionInfo | None:
        """End a rollback's pin: the next refresh may activate any valid content again."""
        with Session(self.engine) as s, s.begin():
            s.execute(update(Version).where(Version.pinned.is_(True)).values(pinned=False))
        return self.active()
