"""The service's link to the store: load the active version, refresh, poll, schedule."""

from __future__ import annotations

import logging
import threading

from api.fitcache import load_or_fit
from api.settings import Settings
from api.state import ForecastState
from api.store.refresh import RefreshResult, refresh
from api.store.repository import OutdatedBundle, Store
from forecast.bundle import ForecastBundle, build_bundle
from forecast.loading import AssumptionsError


class ForecastService:
    """Keeps ``state`` on the store's active version; runs refreshes; polls for other replicas' switches."""

    def __init__(self, settings: Settings, state: ForecastState, logger: logging.Logger, on_activate=None):
        self.settings, self.state, self.logger = settings, state, logger
        self.store = Store(settings.database())
        self.refresh_source = settings.refresh_source or str(settings.assumptions_dir)
        self.on_activate = on_activate
        self._lock = threading.Lock()
        self.scheduler = None

    def start(self) -> None:
        self.store.migrate()
        if self.settings.refresh_on_start or self.store.active() is None:
            result = self.refresh(self.refresh_source, origin="start-up" if self.store.active() else "bundled")
            if result.status not in ("activated", "unchanged") and self.store.active() is None:
                raise RuntimeError(f"no valid assumptions to serve: {result.reasons}")
        self.sync()
        if self.settings.scheduler_enabled:
            self._schedule()

    def refresh(self, source: str, origin: str | None = None) -> RefreshResult:
        result = refresh(self.store, source, self.settings, origin=origin)
        self.logger.info("refresh", extra={"fields": {"source": source, **result.to_dict()}})
        if result.status == "activated":
            self.sync()
        return result

    def sync(self) -> None:
        """Serve the store's active version if it is not the one in memory (atomic swap)."""
        with self._lock:
            active = self.store.active()
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
            if self.on_activate:
                self.on_activate(bundle)
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
            lambda: self.refresh(self.refresh_source, origin="schedule"),
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

    def _poll(self) -> None:
        try:
            self.sync()
        except Exception:  # a failed poll must not stop the schedule; the next one retries
            self.logger.exception("version poll failed")

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
