"""Tables of the store and the engine factory."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, Float, Integer, LargeBinary, String, Text, create_engine, event, false
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from api.settings import get_settings

SQLITE_BUSY_TIMEOUT_S = 30


def default_database_url() -> str:
    """The settings' database: DATABASE_URL, else a SQLite file in the data directory."""
    return get_settings().database()


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Version(Base):
    """One immutable, content-addressed assumptions version and everything computed from it."""

    __tablename__ = "assumption_versions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the normalized assumptions
    short_id: Mapped[str] = mapped_column(String(12), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    origin: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)  # active | superseded | rejected
    validation_report: Mapped[str] = mapped_column(Text)  # JSON {errors, warnings}
    diff: Mapped[str] = mapped_column(Text)  # JSON list of changes against previous_id
    previous_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    files: Mapped[bytes] = mapped_column(LargeBinary)  # zip of the assumptions directory
    bundle: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # pickled computed forecast
    # Chosen by an operator (rollback): a refresh does not replace it with content already stored.
    pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RefreshRun(Base):
    """Every refresh attempt, successful or not, with its reasons."""

    __tablename__ = "refresh_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    source: Mapped[str] = mapped_column(Text)
    holder: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True)  # running | activated | unchanged | rejected | failed
    reasons: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    version_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Lock(Base):
    """Named leases (api.store.locks): a token and an expiry in seconds on the database's clock."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    token: Mapped[str] = mapped_column(String(32), default="")
    expires_at: Mapped[float] = mapped_column(Float, default=0.0)


def make_engine(url: str) -> Engine:
    """Engine with SQLite made safe for several processes (WAL, busy timeout)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)
