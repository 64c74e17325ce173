"""The one settings object of the service, the command line and the store (pydantic-settings).

Every path reads the same environment, so the same variables give the same behaviour whether a
refresh runs in the service, from cron through the command line, or in a test.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from platformdirs import user_data_dir
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.store.sources import Limits
from forecast.loading import default_assumptions_dir
from forecast.sanity import Action, SanityRules

APP_NAME = "magnet-forecast"
DATABASE_FILE = "magnet_forecast.db"


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
    gzip_min_bytes: int = Field(default=1024, ge=0, validation_alias="GZIP_MIN_BYTES")
    bench_routes: bool = Field(default=False, validation_alias="BENCH_ROUTES")
    monte_carlo_paths: int = Field(default=4096, ge=100, le=100_000, validation_alias="MONTE_CARLO_PATHS")
    what_if_paths: int = Field(
        default=2048,
        ge=100,
        le=100_000,
        validation_alias="WHAT_IF_PATHS",
        description="Monte Carlo paths of the bands computed on request (what-if, comparison).",
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
        description="Bearer token of the admin API; unset = admin API disabled.",
    )
    refresh_source: str | None = Field(
        default=None,
        validation_alias="REFRESH_SOURCE",
        description="Directory or manifest URL refreshed on schedule (default: bundled).",
    )
    refresh_cron: str = Field(default="0 3 * * 1", validation_alias="REFRESH_CRON")
    refresh_on_start: bool = Field(default=True, validation_alias="REFRESH_ON_START")
    scheduler_enabled: bool = Field(default=True, validation_alias="SCHEDULER_ENABLED")
    version_poll_s: float = Field(default=15.0, gt=0, validation_alias="VERSION_POLL_S")
    max_file_bytes: int = Field(default=Limits.max_file_bytes, ge=1024, validation_alias="MAX_FILE_BYTES")
    fetch_timeout_s: float = Field(default=Limits.timeout_s, gt=0, validation_alias="FETCH_TIMEOUT_S")
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
        return Limits(max_file_bytes=self.max_file_bytes, timeout_s=self.fetch_timeout_s)


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, read once from the environment."""
    return Settings()
