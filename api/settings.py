"""Service settings, read from the environment (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from forecast.loading import default_assumptions_dir

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every knob of the service; defaults run it locally on bundled assumptions."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

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
    monte_carlo_paths: int = Field(default=10_000, ge=100, le=100_000, validation_alias="MONTE_CARLO_PATHS")


@lru_cache
def get_settings() -> Settings:
    return Settings()
