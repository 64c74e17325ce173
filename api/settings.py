"""The one settings object of the service, the command line and the store (pydantic-settings).

Every path reads the same environment, so the same variables give the same behaviour whether a
refresh runs in the service, from cron through the command line, or in a test.
"""

from __future__ import annotations

import ipaddress
import resource
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from platformdirs import user_data_dir
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from api.store.sources import Limits
from forecast.loading import default_assumptions_dir
from forecast.sanity import Action, SanityRules

APP_NAME = "magnet-forecast"
DATABASE_FILE = "magnet_forecast.db"
MIN_ADMIN_TOKEN_CHARS = 32  # 192 bits of a random token in base64; guessing is then out of reach
FD_HEADROOM = 64  # file descriptors kept free for the database, logs and fetches


def _comma_list(value: object) -> object:
    """A comma-separated environment value as a list (a list is taken as is)."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def default_max_connections() -> int:
    """Open connections the server accepts: the process's open-file limit less some headroom."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, (soft if soft != resource.RLIM_INFINITY else 4096) - FD_HEADROOM)


def default_data_dir() -> Path:
    """The per-user data directory (e.g. ~/.local/share/magnet-forecast on Linux)."""
    return Path(user_data_dir(APP_NAME, appauthor=False))


class Settings(BaseSettings):
    """Every knob; the defaults run locally on the bundled assumptions with data in the user's data directory."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False, populate_by_name=True)

    assumptions_dir: Path = Field(
        default_factory=default_assumptions_dir,
        validation_alias=AliasChoices("ASSUMPTIONS_DIR", "MAGNET_FORECAST_ASSUMPTIONS"),
        description="Assumptions directory loaded at start.",
    )
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    cache_max_age_s: int = Field(default=300, ge=0, validation_alias="CACHE_MAX_AGE_S")
    max_body_bytes: int = Field(default=65536, ge=1024, validation_alias="MAX_BODY_BYTES")
    max_overrides: int = Field(default=50, ge=1, validation_alias="MAX_OVERRIDES")
    max_extra_projects: int = Field(default=50, ge=0, validation_alias="MAX_EXTRA_PROJECTS")
    response_cache_entries: int = Field(default=512, ge=1, validation_alias="RESPONSE_CACHE_ENTRIES")
    response_cache_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        validation_alias="RESPONSE_CACHE_BYTES",
        description="Bytes of rendered responses (plain and gzip) kept in memory.",
    )
    gzip_min_bytes: int = Field(default=1024, ge=0, validation_alias="GZIP_MIN_BYTES")
    gzip_level: int = Field(
        default=1,
        ge=1,
        le=9,
        validation_alias="GZIP_LEVEL",
        description=(
            "zlib level of responses compressed as they are sent (computed ones: what-if, comparison). Level 1 "
            "packs a 2.4 MB what-if in 11 ms to 470 kB; level 9 (the middleware's default) takes 99 ms for 399 kB. "
            "Cached renders are compressed once, at level 6."
        ),
    )
    bench_routes: bool = Field(default=False, validation_alias="BENCH_ROUTES")
    monte_carlo_paths: int = Field(default=4096, ge=100, le=100_000, validation_alias="MONTE_CARLO_PATHS")
    what_if_paths: int = Field(
        default=2048,
        ge=100,
        le=100_000,
        validation_alias="WHAT_IF_PATHS",
        description="Monte Carlo paths of the bands computed on request (what-if, comparison).",
    )

    # Bounded work: on-request computations (what-if) run under a concurrency bound and a per-client
    # rate limit; beyond them the answer is 503 or 429 with Retry-After. /health and /ready never queue.
    # One at a time per process: the computation holds the GIL, so a second one in the same process adds
    # no throughput, only latency for everything else (scale with WORKERS or replicas).
    compute_concurrency: int = Field(
        default=1, ge=1, validation_alias="COMPUTE_CONCURRENCY", description="What-if computations at once."
    )
    compute_queue_s: float = Field(
        default=10.0,
        ge=0,
        validation_alias="COMPUTE_QUEUE_S",
        description="Seconds a computation may wait for a free slot before 503.",
    )
    compute_rate_per_min: float = Field(
        default=60.0, gt=0, validation_alias="COMPUTE_RATE_PER_MIN", description="What-if requests per client a minute."
    )
    # burst x computation time should stay under COMPUTE_QUEUE_S, or a client's own burst meets 503
    compute_burst: int = Field(
        default=5, ge=1, validation_alias="COMPUTE_BURST", description="What-if requests a client may send at once."
    )
    compute_paths: Annotated[list[str], NoDecode] = Field(
        default=["/v1/forecast", "/v1/compare", "/v1/sensitivity", "/v1/scenarios/compare"],
        validation_alias="COMPUTE_PATHS",
        description="POST paths computed on request (comma-separated).",
    )
    rate_limit_clients: int = Field(
        default=10_000, ge=16, validation_alias="RATE_LIMIT_CLIENTS", description="Clients tracked by the rate limit."
    )

    # The server command (magnet-forecast serve): limits of the HTTP layer itself
    max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        validation_alias="MAX_HEADER_BYTES",
        description="Request line plus headers, in bytes (431/400 beyond).",
    )
    request_read_timeout_s: float = Field(
        default=10.0,
        gt=0,
        validation_alias="REQUEST_READ_TIMEOUT_S",
        description="Seconds a connection has to send a whole request (head and body) before it is closed.",
    )
    keep_alive_s: int = Field(default=5, ge=1, validation_alias="KEEP_ALIVE_S")
    max_connections: int = Field(
        default_factory=default_max_connections,
        ge=1,
        validation_alias="MAX_CONNECTIONS",
        description="Open connections at once (503 beyond); default the open-file limit less headroom.",
    )
    trusted_proxies: str = Field(
        default="127.0.0.1",
        validation_alias="TRUSTED_PROXIES",
        description="Addresses whose X-Forwarded-For is believed (comma-separated, or *): the client of rate limits.",
    )
    graceful_shutdown_s: float = Field(
        default=20.0,
        gt=0,
        validation_alias="GRACEFUL_SHUTDOWN_S",
        description="Seconds in-flight requests get after SIGTERM; a running refresh is then cancelled.",
    )
    shutdown_refresh_wait_s: float = Field(
        default=5.0,
        ge=0,
        validation_alias="SHUTDOWN_REFRESH_WAIT_S",
        description="Seconds a cancelled refresh gets to stop at its next step before it is abandoned.",
    )

    # Where data is written: never inside the installed package
    data_dir: Path = Field(
        default_factory=default_data_dir,
        validation_alias="MAGNET_FORECAST_DATA_DIR",
        description="Directory of the default SQLite file and the fit cache.",
    )
    cache_dir: Path | None = Field(
        default=None,
        validation_alias="MAGNET_FORECAST_CACHE",
        description="Directory of cached driver fits; default <data_dir>/cache.",
    )

    # Store, refresh and scheduling
    database_url: str | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        description="SQLAlchemy URL; default a SQLite file in the data directory.",
    )
    admin_token: str | None = Field(
        default=None,
        validation_alias="ADMIN_TOKEN",
        description=f"Bearer token of the admin API, at least {MIN_ADMIN_TOKEN_CHARS} characters; unset = disabled.",
    )
    admin_max_failures: int = Field(
        default=10,
        ge=1,
        validation_alias="ADMIN_MAX_FAILURES",
        description="Failed admin attempts per client in ADMIN_FAILURE_WINDOW_S before it is refused (429).",
    )
    admin_failure_window_s: float = Field(default=300.0, gt=0, validation_alias="ADMIN_FAILURE_WINDOW_S")
    refresh_source: str | None = Field(
        default=None,
        validation_alias="REFRESH_SOURCE",
        description="Directory or manifest URL refreshed on schedule (default: bundled).",
    )
    refresh_allowed_sources: Annotated[list[str], NoDecode] = Field(
        default=[],
        validation_alias="REFRESH_ALLOWED_SOURCES",
        description=(
            "URL prefixes and directories an admin refresh may name (comma-separated); "
            "REFRESH_SOURCE and the bundled assumptions are always allowed."
        ),
    )
    fetch_allowed_networks: Annotated[list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode] = Field(
        default=[],
        validation_alias="FETCH_ALLOWED_NETWORKS",
        description=(
            "Networks (CIDR) a source URL may resolve to although loopback, link-local, private or "
            "reserved (comma-separated); public addresses are always allowed."
        ),
    )
    refresh_lease_s: float = Field(
        default=60.0,
        ge=1.0,
        validation_alias="REFRESH_LEASE_S",
        description="Seconds the refresh lock is held without a heartbeat; a dead holder is replaced after it.",
    )
    start_retry_max_s: float = Field(
        default=30.0,
        gt=0,
        validation_alias="START_RETRY_MAX_S",
        description="Longest wait between attempts to reach the database at start (backoff doubles up to it).",
    )
    calibration_miss: Literal["flag", "reject"] = Field(
        default="flag",
        validation_alias="CALIBRATION_MISS",
        description=(
            "A version whose calibration misses its target, or whose target year is outside the horizon: "
            "flag (activate with a warning) or reject."
        ),
    )
    max_parameters: int = Field(default=2_000, ge=1, validation_alias="MAX_PARAMETERS")
    max_projects: int = Field(default=500, ge=1, validation_alias="MAX_PROJECTS")
    max_series_rows: int = Field(default=50_000, ge=1, validation_alias="MAX_SERIES_ROWS")
    refresh_cron: str = Field(default="0 3 * * 1", validation_alias="REFRESH_CRON")
    refresh_on_start: bool = Field(default=True, validation_alias="REFRESH_ON_START")
    scheduler_enabled: bool = Field(default=True, validation_alias="SCHEDULER_ENABLED")
    version_poll_s: float = Field(default=15.0, gt=0, validation_alias="VERSION_POLL_S")
    max_file_bytes: int = Field(default=Limits.max_file_bytes, ge=1024, validation_alias="MAX_FILE_BYTES")
    fetch_timeout_s: float = Field(
        default=Limits.timeout_s,
        gt=0,
        validation_alias="FETCH_TIMEOUT_S",
        description="Seconds for the whole download of a source (manifest and every file).",
    )
    sanity_max_jump_factor: float = Field(
        default=SanityRules.max_jump_factor, gt=1, validation_alias="SANITY_MAX_JUMP_FACTOR"
    )
    sanity_history_rewrite: Action = Field(
        default=SanityRules.history_rewrite, validation_alias="SANITY_HISTORY_REWRITE"
    )
    sanity_history_tolerance: float = Field(
        default=SanityRules.history_tolerance, gt=0, validation_alias="SANITY_HISTORY_TOLERANCE"
    )
    sanity_unit_change: Action = Field(default=SanityRules.unit_change, validation_alias="SANITY_UNIT_CHANGE")

    @field_validator("compute_paths", "refresh_allowed_sources", "fetch_allowed_networks", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _comma_list(value)

    @field_validator("admin_token")
    @classmethod
    def _strong_token(cls, token: str | None) -> str | None:
        if token is not None and token != "" and len(token) < MIN_ADMIN_TOKEN_CHARS:
            raise ValueError(
                f"ADMIN_TOKEN has {len(token)} characters; expected at least {MIN_ADMIN_TOKEN_CHARS} "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return token or None

    def fit_cache_dir(self) -> Path:
        """Directory of the driver-fit cache."""
        return self.cache_dir or self.data_dir / "cache"

    def database(self) -> str:
        """The SQLAlchemy URL: DATABASE_URL, else a SQLite file in the data directory (created)."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / DATABASE_FILE}"

    def sanity_rules(self) -> SanityRules:
        return SanityRules(
            unit_change=self.sanity_unit_change,
            max_jump_factor=self.sanity_max_jump_factor,
            history_rewrite=self.sanity_history_rewrite,
            history_tolerance=self.sanity_history_tolerance,
        )

    def limits(self) -> Limits:
        return Limits(
            max_file_bytes=self.max_file_bytes,
            timeout_s=self.fetch_timeout_s,
            allowed_networks=tuple(self.fetch_allowed_networks),
        )

    def tmp_dir(self) -> Path:
        """Directory of a refresh's working copies (leftovers of a killed refresh are removed)."""
        return self.data_dir / "tmp"


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, read once from the environment."""
    return Settings()
