"""Shared fixtures: the bundled assumptions, and writable copies to break on purpose."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings

from forecast.calibration import CalibrationResult, calibrate
from forecast.loading import default_assumptions_dir, load_assumptions
from forecast.schemas import Assumptions

ASSUMPTIONS_DIR = default_assumptions_dir()

# Properties that run the whole model per example: fewer examples, and no per-example deadline
# (their time depends on the machine's load, not on the property).
settings.register_profile("slow_properties", max_examples=20, deadline=None)
SLOW_PROPERTIES = settings.get_profile("slow_properties")


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


def edit_parameters(directory: Path, edit: Callable[[dict[str, Any]], object]) -> None:
    """Apply ``edit`` to the parsed parameters.yaml of an assumptions directory and write it back."""
    path = directory / "parameters.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


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


@pytest.fixture(scope="session")
def assumptions_reaching(assumptions_fitted, calibration_fitted):
    """The fitted assumptions with a target the ranges and the published history can reach: 97% of the most
    they allow, so the calibration moves several inputs and driver families to their range ends."""
    target = assumptions_fitted.model.calibration.model_copy(
        update={"ratio": 0.97 * calibration_fitted.reachable_ratio}
    )
    model = assumptions_fitted.model.model_copy(update={"calibration": target})
    return assumptions_fitted.model_copy(update={"model": model})


@pytest.fixture(scope="session")
def calibration_reaching(assumptions_reaching):
    result = calibrate(assumptions_reaching)
    assert result.reachable, "97% of the reachable ratio must be reachable"
    return result
