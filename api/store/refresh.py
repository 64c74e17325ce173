"""Refresh: fetch, validate, sanity-check, refit, recompute, then switch the active version atomically.

A refresh that fails at any step is recorded with its reasons and changes nothing else. A process
killed at any point leaves the previous version active (the switch is one database transaction).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from api.fitcache import load_or_fit
from api.settings import Settings, get_settings
from api.store.db import Version, now
from api.store.locks import LockBusy, exclusive, holder_id
from api.store.repository import REFRESH_LOCK, Store, dump_bundle, zip_dir
from api.store.sources import SourceError, fetch
from forecast.bundle import build_bundle
from forecast.diff import diff_assumptions
from forecast.loading import AssumptionsError, load_assumptions
from forecast.progress import ProgressFn, silent
from forecast.sanity import check
from forecast.schemas import Assumptions
from forecast.versioning import assumptions_hash

FAULT_ENV = "MAGNET_FORECAST_FAULT_PAUSE"  # test hook: stage name at which the refresh stops and waits
FAULT_WAIT_S = 3600


@dataclass
class RefreshResult:
    status: str  # activated | unchanged | rejected | locked | failed
    version: str | None = None
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    run_id: int | None = None

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "version": self.version,
            "reasons": self.reasons,
            "warnings": self.warnings,
            "run_id": self.run_id,
        }


def _pause(stage: str) -> None:
    if os.environ.get(FAULT_ENV) == stage:
        print(f"paused at {stage}", flush=True)
        time.sleep(FAULT_WAIT_S)


def refresh(
    store: Store,
    source: str,
    settings: Settings | None = None,
    origin: str | None = None,
    progress: ProgressFn = silent,
) -> RefreshResult:
    """Run one refresh from a directory or a manifest URL (see module docstring).

    Sanity rules, fetch limits, the fit cache and the Monte Carlo paths come from ``settings``
    (default: this process's settings, read from the environment).
    """
    settings = settings or get_settings()
    try:
        with exclusive(store.engine, REFRESH_LOCK):
            store.abandon_stale_runs()
            run_id = store.start_run(source, holder_id())
            try:
                return _refresh_locked(store, source, settings, origin or source, run_id, progress)
            except Exception as exc:  # recorded, never half-applied
                store.finish_run(run_id, "failed", [f"{type(exc).__name__}: {exc}"])
                return RefreshResult("failed", reasons=[f"{type(exc).__name__}: {exc}"], run_id=run_id)
    except LockBusy:
        return RefreshResult("locked", reasons=["another refresh is running"])


def _previous(store: Store, version_id: str) -> tuple[Assumptions | None, list[str]]:
    """The active version's assumptions to compare against, or None (with a warning) if this code
    cannot read them because the assumptions format changed since they were stored."""
    try:
        return store.load_assumptions(version_id), []
    except AssumptionsError as err:
        return None, [
            f"previous version {version_id[:12]} is in an older assumptions format ({err.problems[0]}); "
            "sanity checks against it were skipped"
        ]


def _refresh_locked(
    store: Store, source: str, settings: Settings, origin: str, run_id: int, progress: ProgressFn = silent
) -> RefreshResult:
    with tempfile.TemporaryDirectory(prefix="assumptions-") as tmp:
        work = Path(tmp) / "assumptions"
        try:
            limits = settings.limits()
            progress("fetching the assumptions", 0, 4)
            fetch(source, work, limits.max_file_bytes, limits.timeout_s)
        except SourceError as exc:
            store.finish_run(run_id, "rejected", [str(exc)])
            return RefreshResult("rejected", reasons=[str(exc)], run_id=run_id)
        _pause("fetched")
        try:
            progress("validating", 1, 4)
            new = load_assumptions(work)
        except AssumptionsError as err:
            reasons = [str(p) for p in err.problems]
            store.finish_run(run_id, "rejected", reasons)
            return RefreshResult("rejected", reasons=reasons, run_id=run_id)
        _pause("validated")
        active = store.active()
        full_hash = assumptions_hash(new)
        if active is not None and active.id == full_hash:
            store.finish_run(run_id, "unchanged", [], full_hash)
            return RefreshResult("unchanged", version=full_hash[:12], run_id=run_id)
        old, unreadable = _previous(store, active.id) if active else (None, [])
        report = check(old, new, settings.sanity_rules())
        report.warnings.extend(unreadable)
        version = Version(
            id=full_hash,
            short_id=full_hash[:12],
            created_at=now(),
            origin=origin,
            status="active" if not report.errors else "rejected",
            validation_report=json.dumps({"errors": report.errors, "warnings": report.warnings}),
            diff=json.dumps(diff_assumptions(old, new), default=str),
            previous_id=active.id if active else None,
            files=zip_dir(work),
            bundle=None,
        )
        if report.errors:
            store.add_version(version, activate=False, run_id=run_id)
            return RefreshResult(
                "rejected", version=full_hash[:12], reasons=report.errors, warnings=report.warnings, run_id=run_id
            )
        fits = load_or_fit(new, settings.fit_cache_dir(), progress)
        bundle = build_bundle(new, fits, n_paths=settings.monte_carlo_paths, progress=progress)
        progress("saving the version", 3, 4)
        _pause("fitted")
        version.bundle = dump_bundle(bundle)
        store.add_version(version, activate=True, run_id=run_id, pause=_pause)
        return RefreshResult("activated", version=full_hash[:12], warnings=report.warnings, run_id=run_id)
