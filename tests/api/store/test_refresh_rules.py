"""Refresh rules that guard the served answer: calibration misses flagged or refused, size limits,
rollbacks pinned, and no working copy left behind by a killed refresh."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import yaml

from api.settings import Settings
from api.store.refresh import WORKDIR_PREFIX, refresh
from tests.api.store.conftest import BUNDLED, copy_assumptions, edit_parameter
from tests.api.store.test_refresh import LEASE_S, N_PATHS, SETTINGS, _cli_refresh, _service, fresh_store, store_url


@pytest.fixture()
def store(db_url):
    s = fresh_store(db_url)
    assert refresh(s, str(BUNDLED), SETTINGS, origin="bundled").status == "activated"
    return s


def _edit_model(d: Path, **calibration) -> None:
    path = d / "model.yaml"
    data = yaml.safe_load(path.read_text())
    data["calibration"].update(calibration)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_calibration_that_misses_its_target_is_flagged_by_default_and_refused_on_request(store, tmp_path):
    d = copy_assumptions(tmp_path / "nocal")
    _edit_model(d, ratio=10.0)  # far beyond what the sourced ranges and the history allow (about 4.4)
    refused = refresh(store, str(d), Settings(MONTE_CARLO_PATHS=N_PATHS, CALIBRATION_MISS="reject"))
    assert refused.status == "rejected"
    assert any("calibration misses its target" in r for r in refused.reasons), refused.reasons
    assert any("CALIBRATION_MISS=reject" in r for r in refused.reasons)
    flagged = refresh(store, str(d), SETTINGS)
    assert flagged.status == "activated", flagged
    assert any(w.startswith("flagged: model.yaml: calibration misses its target") for w in flagged.warnings)
    report = store.diff(flagged.version)["validation_report"]
    assert report["warnings"] == flagged.warnings  # stored with the version


def test_a_target_year_outside_the_horizon_is_refused_when_asked(store, tmp_path):
    d = copy_assumptions(tmp_path / "late")
    _edit_model(d, target_year=2070)
    r = refresh(store, str(d), Settings(MONTE_CARLO_PATHS=N_PATHS, CALIBRATION_MISS="reject"))
    assert r.status == "rejected"
    assert "model.yaml: calibration.target_year 2070 is outside the horizon 2015-2050" in r.reasons


@pytest.mark.parametrize(
    "limit, expected",
    [
        ({"MAX_PROJECTS": 10}, "supply/projects.csv: {n} projects, more than the limit of 10 (MAX_PROJECTS)"),
        ({"MAX_PARAMETERS": 10}, "parameters.yaml: {n} parameters, more than the limit of 10 (MAX_PARAMETERS)"),
        ({"MAX_SERIES_ROWS": 10}, "more than the limit of 10 (MAX_SERIES_ROWS)"),
    ],
)
def test_versions_beyond_the_size_limits_are_refused_with_the_setting_named(store, assumptions, limit, expected):
    r = refresh(store, str(BUNDLED), Settings(MONTE_CARLO_PATHS=N_PATHS, **limit))
    assert r.status == "rejected"
    counts = {"MAX_PROJECTS": len(assumptions.projects), "MAX_PARAMETERS": len(assumptions.parameters)}
    n = counts.get(next(iter(limit)))
    assert any(expected.format(n=n) in reason for reason in r.reasons), r.reasons


def test_a_rollback_stays_until_new_content_or_unpin(store, changed_dir, tmp_path):
    first = store.active()
    assert refresh(store, str(changed_dir), SETTINGS).status == "activated"
    assert store.activate(first.short_id, LEASE_S).pinned
    again = refresh(store, str(changed_dir), SETTINGS)  # the scheduled refresh from the same source
    assert again.status == "pinned", again
    assert store.active().short_id == first.short_id, again
    # a restart with REFRESH_ON_START from that source keeps the rollback too
    service = _service(store_url(store), refresh_on_start=True, source=changed_dir)
    service.start()
    assert service.wait_started(300)
    assert service.state.bundle.version == first.short_id == store.active().short_id
    service.stop()
    newer = copy_assumptions(tmp_path / "newer")
    edit_parameter(newer, "ev.motor_kg.BEV", value=1.7)
    brought = refresh(store, str(newer), SETTINGS)
    assert brought.status == "activated"
    assert not store.active().pinned
    store.activate(first.short_id, LEASE_S)
    store.unpin()
    assert refresh(store, str(changed_dir), SETTINGS).status == "activated"


def test_a_killed_refresh_leaves_no_working_copy_behind(store, changed_dir, tmp_path):
    data = tmp_path / "data"
    env = {"MAGNET_FORECAST_DATA_DIR": str(data), "MAGNET_FORECAST_FAULT_PAUSE": "fetched"}
    env["MAGNET_FORECAST_CACHE"] = str(Settings().fit_cache_dir())  # share the fitted drivers
    proc = _cli_refresh(store.url, changed_dir, env)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "paused at fetched"
    assert len(list((data / "tmp").glob(f"{WORKDIR_PREFIX}*"))) == 1
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    settings = Settings(MONTE_CARLO_PATHS=N_PATHS, REFRESH_LEASE_S=LEASE_S, MAGNET_FORECAST_DATA_DIR=str(data))
    settings = settings.model_copy(update={"cache_dir": Settings().fit_cache_dir()})
    r = None
    for _ in range(30):  # the dead holder's lease runs out within LEASE_S
        r = refresh(store, str(changed_dir), settings)
        if r.status != "locked":
            break
        time.sleep(0.5)
    assert r is not None, r
    assert r.status == "activated", r
    assert list((data / "tmp").glob(f"{WORKDIR_PREFIX}*")) == []
