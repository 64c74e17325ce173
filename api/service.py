"""The service's link to the store: load the active version, refresh, poll, schedule.

Start-up never blocks the server: a background thread reaches the database (retrying with backoff),
serves the active version at once if there is a usable one, and only then refreshes. Until a version
is served, /ready answers 503 with the reason. At shutdown a running refresh is cancelled at its next
step and its working copy removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import shutil
import threading
import time

from sqlalchemy.exc import SQLAlchemyError

from api.fitcache import load_or_fit
from api.settings import Settings
from api.state import ForecastState
from api.store import locks
from api.store.refresh import RefreshResult, refresh, remove_leftover_workdirs, workdirs_in_use
from api.store.repository import OutdatedBundle, Store
from api.store.sources import redact
from forecast.bundle import ForecastBundle, build_bundle
from forecast.loading import AssumptionsError

FIRST_RETRY_S = 0.5


def release_memory() -> None:
    """Hand freed heap back to the system after a version swap or a refresh (glibc keeps it otherwise,
    and resident memory would ratchet up with every refresh); a no-op where there is no glibc."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class ForecastService:
    """Keeps ``state`` on the store's active version; runs refreshes; polls for other replicas' switches."""

    def __init__(self, settings: Settings, state: ForecastState, logger: logging.Logger, on_activate=None):
        self.settings, self.state, self.logger = settings, state, logger
        self.store = Store(settings.database())  # no connection is made here
        self.refresh_source = settings.refresh_source or str(settings.assumptions_dir)
        self.on_activate = on_activate
        self._lock = threading.Lock()
        self.scheduler = None
        self.cancel = threading.Event()  # set at shutdown: running refreshes stop at their next step
        self.started = threading.Event()  # the start-up sequence has finished (serving or not)
        self.problem: str | None = "starting"  # why nothing is served yet (None once serving)
        self.database_error: str | None = None  # the last failed contact with the database, cleared on success
        self._refreshes = 0
        self._refreshes_done = threading.Condition()
        self._thread: threading.Thread | None = None

    # --- start-up --------------------------------------------------------------------------------
    def start(self) -> None:
        """Begin the start-up sequence in the background and return at once."""
        remove_leftover_workdirs(self.settings.tmp_dir())
        self._thread = threading.Thread(target=self._start_up, name="start-up", daemon=True)
        self._thread.start()

    def wait_started(self, timeout_s: float | None = None) -> bool:
        """Block until the start-up sequence has finished; True if a version is being served."""
        self.started.wait(timeout_s)
        return self.state.ready

    def _start_up(self) -> None:
        delay = FIRST_RETRY_S
        try:
            while not self.cancel.is_set():
                try:
                    self._start_once()
                    break
                except SQLAlchemyError as exc:
                    self._database_down(exc, f"retrying in {delay:.1f} s")
                    self.cancel.wait(delay)
                    delay = min(delay * 2, self.settings.start_retry_max_s)
            if self.settings.scheduler_enabled and not self.cancel.is_set():
                self._schedule()
        finally:
            self.started.set()

    def _start_once(self) -> None:
        self.store.migrate()
        self.database_error = None
        served = self._serve_active()
        if not self.settings.refresh_on_start and (served or self.store.active() is not None):
            return  # serving, or the active version is unusable and /ready names the remedy
        origin = "start-up" if self.store.active() else "bundled"
        while not self.cancel.is_set():
            if not self.state.ready:
                self.problem = "making the first version (refresh running)"
            result = self.refresh(self.refresh_source, origin=origin)
            if result.status in ("activated", "unchanged", "pinned") or self.state.ready:
                self._serve_active()
                return
            if result.status == "locked":
                # Another replica is refreshing (maybe making the very first version): serve what it makes.
                self.problem = "waiting for another replica's refresh"
                self.cancel.wait(min(self.settings.version_poll_s, 1.0))
                if self._serve_active():
                    return
                continue
            self.problem = "no valid assumptions to serve: " + "; ".join(result.reasons)[:1000]
            self.logger.error("nothing to serve", extra={"fields": {"reasons": result.reasons}})
            return

    def _serve_active(self) -> bool:
        """Serve the stored active version now; False if there is none or this code cannot read it."""
        try:
            self.sync()
        except RuntimeError as exc:  # unreadable active version: a refresh may replace it
            self.problem = str(exc)
            self.logger.error("active version unusable", extra={"fields": {"reason": str(exc)}})
            return False
        return self.state.ready

    def _database_down(self, exc: Exception, then: str) -> None:
        self.database_error = f"database unavailable ({type(exc).__name__})"
        if not self.state.ready:
            self.problem = f"{self.database_error}; {then}"
        self.logger.warning("database unavailable", exc_info=exc, extra={"fields": {"then": then}})

    # --- refresh and sync ------------------------------------------------------------------------
    def refresh(self, source: str, origin: str | None = None) -> RefreshResult:
        with self._refreshes_done:
            self._refreshes += 1
        try:
            result = refresh(self.store, source, self.settings, origin=origin, cancel=self.cancel)
        finally:
            with self._refreshes_done:
                self._refreshes -= 1
                self._refreshes_done.notify_all()
        self.logger.info("refresh", extra={"fields": {"source": redact(source), **result.to_dict()}})
        if result.status == "activated":
            self.sync()
        release_memory()
        return result

    def sync(self) -> None:
        """Serve the store's active version if it is not the one in memory (atomic swap)."""
        with self._lock:
            active = self.store.active()
            self.database_error = None
            if active is None:
                return
            current = self.state.bundle.version if self.state.bundle else None
            if current == active.short_id:
                return
            try:
                bundle = self.store.load_bundle(active.id)
            except OutdatedBundle as exc:
                bundle = self._rebuild(active.id, str(exc))
            self.state.activate(bundle)
            self.problem = None
            if self.on_activate:
                self.on_activate(bundle)
            release_memory()  # the previous version's tables
            self.logger.info("version activated", extra={"fields": {"assumptions_version": bundle.version}})

    def _rebuild(self, version_id: str, why: str) -> ForecastBundle:
        """Recompute a stored version's forecast with this code (its files, and so its id, are unchanged)."""
        self.logger.warning("rebuilding stored forecast", extra={"fields": {"reason": why}})
        try:
            a = self.store.load_assumptions(version_id)
        except AssumptionsError as err:
            raise RuntimeError(
                f"active version {version_id[:12]} is in an older assumptions format ({err.problems[0]}); "
                "refresh from a current source (magnet-forecast refresh, or start with REFRESH_ON_START=true)"
            ) from None
        bundle = build_bundle(a, load_or_fit(a, self.settings.fit_cache_dir()), n_paths=self.settings.monte_carlo_paths)
        self.store.save_bundle(version_id, bundle)
        return bundle

    def _schedule(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.cron import CronTrigger

        sched = BackgroundScheduler(daemon=True)
        sched.add_job(
            self._scheduled_refresh,
            CronTrigger.from_crontab(self.settings.refresh_cron),
            id="refresh",
            max_instances=1,
            coalesce=True,
        )
        sched.add_job(
            self._poll, "interval", seconds=self.settings.version_poll_s, id="poll", max_instances=1, coalesce=True
        )
        sched.start()
        self.scheduler = sched

    def _scheduled_refresh(self) -> None:
        try:
            self.refresh(self.refresh_source, origin="schedule")
        except SQLAlchemyError as exc:
            self._database_down(exc, "the next scheduled refresh tries again")

    def _poll(self) -> None:
        try:
            self.sync()
        except SQLAlchemyError as exc:
            self._database_down(exc, "serving the version in memory; the next poll tries again")
        except Exception:  # a failed poll must not stop the schedule; the next one retries
            self.logger.exception("version poll failed")

    # --- shutdown --------------------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel running refreshes, wait a bounded time for them, then remove what they left."""
        self.cancel.set()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + self.settings.shutdown_refresh_wait_s
        with self._refreshes_done:
            while self._refreshes and time.monotonic() < deadline:
                self._refreshes_done.wait(max(0.0, deadline - time.monotonic()))
            stuck = self._refreshes
        if stuck:  # inside a step that cannot be interrupted (a fit): abandon it cleanly
            self.logger.warning("refresh abandoned at shutdown", extra={"fields": {"running": stuck}})
            for d in workdirs_in_use():
                shutil.rmtree(d, ignore_errors=True)
            locks.release_all()
        self.store.engine.dispose()
