"""Refresh: fetch, validate, sanity-check, refit, recompute, then switch the active version atomically.

A refresh that fails at any step is recorded with its reasons and changes nothing else. A process
killed at any point leaves the previous version active (the switch is one database transaction, and
it commits only while this process still holds the refresh lease). Reasons name the file, row or
step at fault; they never carry fetched content, SQL, stack traces or credentials (those go to the
service log only, with credentials redacted).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from api.fitcache import load_or_fit
from api.settings import Settings, get_settings
from api.store.db import Version, now
from api.store.locks import LeaseLost, LockBusy, exclusive, holder_id
from api.store.repository import REFRESH_LOCK, Store, dump_bundle, zip_dir
from api.store.sources import Cancelled, SourceError, fetch, redact
from forecast.bundle import build_bundle
from forecast.diff import diff_assumptions
from forecast.loading import AssumptionsError, load_assumptions
from forecast.progress import ProgressFn, silent
from forecast.sanity import check
from forecast.schemas import SERIES, Assumptions
from forecast.versioning import assumptions_hash

FAULT_ENV = "MAGNET_FORECAST_FAULT_PAUSE"  # test hook: stage name at which the refresh stops and waits
FAULT_WAIT_S = 3600
WORKDIR_PREFIX = "refresh-"
WORKDIR_LOCK = ".in-use"  # flock'd while the refresh runs: released by the kernel however it ends
MAX_REASONS = 100
MAX_REASON_CHARS = 500

log = logging.getLogger("magnet_forecast.refresh")
_IN_USE: set[Path] = set()  # this process's working copies, removed at shutdown if a refresh is stuck


def workdirs_in_use() -> list[Path]:
    """Working copies of this process's running refreshes."""
    return list(_IN_USE)


@dataclass
class RefreshResult:
    status: str  # activated | unchanged | pinned | rejected | locked | failed | cancelled
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


def _clip(messages: list[str]) -> list[str]:
    """Reasons as stored and returned: credentials redacted, bounded in number and length."""
    out = [redact(m)[:MAX_REASON_CHARS] for m in messages[:MAX_REASONS]]
    if len(messages) > MAX_REASONS:
        out.append(f"... and {len(messages) - MAX_REASONS} more")
    return out


class _Steps:
    """Stage checkpoints: the fault-injection pause (tests) and cancellation (shutdown)."""

    def __init__(self, cancel: threading.Event | None):
        self.cancel = cancel
        self.stage = "start"

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def __call__(self, stage: str) -> None:
        self.stage = stage
        if os.environ.get(FAULT_ENV) == stage:
            print(f"paused at {stage}", flush=True)
            deadline = time.monotonic() + FAULT_WAIT_S
            while time.monotonic() < deadline and not self.cancelled():
                time.sleep(0.1)
        if self.cancelled():
            raise Cancelled(stage)


def remove_leftover_workdirs(tmp_root: Path) -> int:
    """Delete the working copies of refreshes that ended without cleaning up (killed); returns how many."""
    removed = 0
    if not tmp_root.is_dir():
        return 0
    for d in tmp_root.glob(f"{WORKDIR_PREFIX}*"):
        try:
            with (d / WORKDIR_LOCK).open("a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while its refresh is alive
        except BlockingIOError:
            continue
        except OSError:
            pass  # no lock file (killed before writing it): not in use
        shutil.rmtree(d, ignore_errors=True)
        removed += 1
    return removed


@contextmanager
def _workdir(tmp_root: Path) -> Iterator[Path]:
    tmp_root.mkdir(parents=True, exist_ok=True)
    remove_leftover_workdirs(tmp_root)
    d = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX, dir=tmp_root))
    lock = (d / WORKDIR_LOCK).open("w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _IN_USE.add(d)
    try:
        yield d
    finally:
        _IN_USE.discard(d)
        lock.close()
        shutil.rmtree(d, ignore_errors=True)


def refresh(
    store: Store,
    source: str,
    settings: Settings | None = None,
    origin: str | None = None,
    progress: ProgressFn = silent,
    cancel: threading.Event | None = None,
) -> RefreshResult:
    """Run one refresh from a directory or a manifest URL (see module docstring).

    Sanity rules, fetch limits, size limits, the fit cache and the Monte Carlo paths come from
    ``settings`` (default: this process's settings). Setting ``cancel`` stops the refresh at its next
    step; nothing is changed and its working copy is removed.
    """
    settings = settings or get_settings()
    steps = _Steps(cancel)
    try:
        with exclusive(store.engine, REFRESH_LOCK, settings.refresh_lease_s) as lease:
            store.abandon_stale_runs()
            run_id = store.start_run(redact(source), holder_id())
            try:
                return _refresh_locked(
                    store, source, settings, redact(origin or source), run_id, steps, lease, progress
                )
            except Cancelled:
                reasons = [f"cancelled at step {steps.stage}: the process is shutting down; nothing changed"]
                store.finish_run(run_id, "failed", reasons)
                return RefreshResult("cancelled", reasons=reasons, run_id=run_id)
            except LeaseLost:
                reasons = [f"the refresh lock's lease ran out during step {steps.stage}; nothing changed"]
                store.finish_run(run_id, "failed", reasons)
                return RefreshResult("failed", reasons=reasons, run_id=run_id)
            except Exception as exc:  # recorded, never half-applied; details only in the log
                kind = "database error" if isinstance(exc, SQLAlchemyError) else "internal error"
                log.exception("refresh failed", extra={"fields": {"run_id": run_id, "step": steps.stage}})
                reasons = [f"{kind} ({type(exc).__name__}) in step {steps.stage}; see the service log, run {run_id}"]
                store.finish_run(run_id, "failed", reasons)
                return RefreshResult("failed", reasons=reasons, run_id=run_id)
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


def size_problems(a: Assumptions, settings: Settings) -> list[str]:
    """Parameters and rows beyond the settings' limits (what a request's work grows with)."""
    out = []
    if len(a.parameters) > settings.max_parameters:
        out.append(
            f"parameters.yaml: {len(a.parameters)} parameters, more than the limit of {settings.max_parameters} "
            "(MAX_PARAMETERS)"
        )
    if len(a.projects) > settings.max_projects:
        out.append(
            f"supply/projects.csv: {len(a.projects)} projects, more than the limit of {settings.max_projects} "
            "(MAX_PROJECTS)"
        )
    tables = [(spec.path, getattr(a, spec.name)) for spec in SERIES]
    tables += [("supply/output.csv", a.project_output), ("supply/china.csv", a.china_supply)]
    for path, table in tables:
        if len(table) > settings.max_series_rows:
            out.append(
                f"{path}: {len(table)} rows, more than the limit of {settings.max_series_rows} (MAX_SERIES_ROWS)"
            )
    return out


def calibration_problems(a: Assumptions, bundle=None) -> list[str]:
    """The calibration target outside the horizon, or missed by the computed forecast."""
    target, h = a.model.calibration, a.model.horizon
    out = [
        f"model.yaml: calibration.{name} {year} is outside the horizon {h.first_year}-{h.last_year}"
        for name, year in (("base_year", target.base_year), ("target_year", target.target_year))
        if not h.first_year <= year <= h.last_year
    ]
    if bundle is not None and not out and not bundle.calibration.within_tolerance:
        c = bundle.calibration
        out.append(
            f"model.yaml: calibration misses its target: ratio {c.achieved_ratio:.3g} against "
            f"{c.target_ratio:g} +/- {c.tolerance:.0%} ({c.base_year}-{c.target_year}); "
            + ("the base scenario stays on the sourced central values" if not c.reachable else "")
        )
    return out


def _refresh_locked(
    store: Store,
    source: str,
    settings: Settings,
    origin: str,
    run_id: int,
    steps: _Steps,
    lease,
    progress: ProgressFn = silent,
) -> RefreshResult:
    def reject(reasons: list[str], version: str | None = None, warnings: list[str] | None = None) -> RefreshResult:
        reasons = _clip(reasons)
        store.finish_run(run_id, "rejected", reasons, None)
        return RefreshResult("rejected", version=version, reasons=reasons, warnings=warnings or [], run_id=run_id)

    with _workdir(settings.tmp_dir()) as tmp:
        work = tmp / "assumptions"
        steps("fetching")
        progress("fetching the assumptions", 0, 4)
        try:
            fetch(source, work, settings.limits(), steps.cancelled)
        except SourceError as exc:
            return reject([str(exc)])
        steps("fetched")
        try:
            progress("validating", 1, 4)
            new = load_assumptions(work)
        except AssumptionsError as err:
            return reject([str(p) for p in err.problems])
        too_big = size_problems(new, settings)
        if too_big:
            return reject(too_big)
        flagged = calibration_problems(new)
        if flagged and settings.calibration_miss == "reject":
            return reject([*flagged, "refused by CALIBRATION_MISS=reject"])
        steps("validated")
        active = store.active()
        full_hash = assumptions_hash(new)
        if active is not None and active.id == full_hash:
            store.finish_run(run_id, "unchanged", [], full_hash)
            return RefreshResult("unchanged", version=full_hash[:12], run_id=run_id)
        if active is not None and active.pinned and store.known(full_hash):
            why = [
                f"version {active.short_id} is pinned by a rollback; {full_hash[:12]} is already stored and is "
                "not activated again (unpin, or refresh with new content)"
            ]
            store.finish_run(run_id, "pinned", why, full_hash)
            return RefreshResult("pinned", version=active.short_id, warnings=why, run_id=run_id)
        old, unreadable = _previous(store, active.id) if active else (None, [])
        report = check(old, new, settings.sanity_rules())
        report.warnings.extend(unreadable)
        version = Version(
            id=full_hash,
            short_id=full_hash[:12],
            created_at=now(),
            origin=origin,
            status="active" if not report.errors else "rejected",
            validation_report=json.dumps({"errors": _clip(report.errors), "warnings": _clip(report.warnings)}),
            diff=json.dumps(diff_assumptions(old, new), default=str),
            previous_id=active.id if active else None,
            files=zip_dir(work),
            bundle=None,
            pinned=False,
        )
        if report.errors:
            store.add_version(version, activate=False, run_id=run_id, lease=lease)
            return RefreshResult(
                "rejected",
                version=full_hash[:12],
                reasons=_clip(report.errors),
                warnings=_clip(report.warnings),
                run_id=run_id,
            )
        steps("fitting")
        fits = load_or_fit(new, settings.fit_cache_dir(), progress)
        steps("computing")
        bundle = build_bundle(new, fits, n_paths=settings.monte_carlo_paths, progress=progress)
        missed = calibration_problems(new, bundle)
        if missed and settings.calibration_miss == "reject":
            return reject([*missed, "refused by CALIBRATION_MISS=reject"], version=full_hash[:12])
        warnings = _clip(report.warnings + [f"flagged: {m}" for m in missed])
        version.validation_report = json.dumps({"errors": [], "warnings": warnings})
        progress("saving the version", 3, 4)
        steps("fitted")
        version.bundle = dump_bundle(bundle)
        store.add_version(version, activate=True, run_id=run_id, pause=steps, lease=lease)
        return RefreshResult("activated", version=full_hash[:12], warnings=warnings, run_id=run_id)
