"""Shared fixtures: the bundled assumptions, and writable copies to break on purpose."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from forecast.calibration import CalibrationResult, calibrate
from forecast.loading import default_assumptions_dir, load_assumptions
from forecast.schemas import Assumptions

ASSUMPTIONS_DIR = default_assumptions_dir()


@pytest.fixture(scope="session")
def assumptions() -> Assumptions:
    return load_assumptions(ASSUMPTIONS_DIR)


@pytest.fixture(scope="session")
def calibration(assumptions: Assumptions) -> CalibrationResult:
    return calibrate(assumptions)


@pytest.fixture()
def assumptions_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled assumptions directory."""
    dst = tmp_path / "assumptions"
    shutil.copytree(ASSUMPTIONS_DIR, dst)
    return dst


@pytest.fixture(scope="session")
def driver_fits(assumptions):
    from api.fitcache import load_or_fit

    return load_or_fit(assumptions)


@pytest.fixture(scope="session")
def assumptions_fitted(assumptions, driver_fits):
    from forecast.backtest import with_fitted_drivers

    return with_fitted_drivers(assumptions, driver_fits)


@pytest.fixture(scope="session")
def calibration_fitted(assumptions_fitted):
    return calibrate(assumptions_fitted)
