"""Calibration to the DOE 2023 projection: explicit, within bounds, honest when unreachable."""

from __future__ import annotations

import pytest

from forecast.calibration import calibrate, demand_ratio
from forecast.model import forecast_scenario
from forecast.scenarios import resolve_parameters


def test_base_reproduces_the_doe_ratio_within_one_percent(assumptions, calibration):
    assert calibration.target_ratio == 4.0
    assert calibration.within_tolerance
    assert calibration.achieved_ratio == pytest.approx(4.0, rel=0.01)
    params = resolve_parameters(assumptions, "base", calibration.calibrated)
    assert demand_ratio(assumptions, params, 2023, 2040) == pytest.approx(calibration.achieved_ratio)


def test_calibrated_parameters_stay_within_their_sourced_ranges(calibration):
    assert calibration.parameters
    for p in calibration.parameters:
        assert p.low <= p.after <= p.high, p.name
        assert p.source


def test_uncalibrated_ratio_is_what_the_central_values_give(assumptions, calibration):
    central = resolve_parameters(assumptions, "base")
    assert demand_ratio(assumptions, central, 2023, 2040) == pytest.approx(calibration.uncalibrated_ratio)


def test_unreachable_target_is_reported_not_forced(assumptions):
    cfg = assumptions.model.model_copy(
        update={"calibration": assumptions.model.calibration.model_copy(update={"ratio": 50.0})}
    )
    result = calibrate(assumptions.model_copy(update={"model": cfg}))
    assert not result.reachable
    assert not result.within_tolerance
    assert result.stretch == 1.0
    for p in result.parameters:
        assert p.after in (p.low, p.high)


def test_a_target_below_the_central_ratio_moves_parameters_down(assumptions, calibration):
    lower = calibration.uncalibrated_ratio * 0.9
    cfg = assumptions.model.model_copy(
        update={"calibration": assumptions.model.calibration.model_copy(update={"ratio": lower})}
    )
    result = calibrate(assumptions.model_copy(update={"model": cfg}))
    assert result.achieved_ratio == pytest.approx(lower, rel=0.01)
    assert any(p.after < p.before for p in result.parameters)


def test_other_scenarios_inherit_the_calibration(assumptions, calibration):
    high = resolve_parameters(assumptions, "high", calibration.calibrated)
    for p in calibration.parameters:
        assert high[p.name].value == p.after


def test_scenarios_differ_from_base_where_they_override(assumptions, calibration):
    years = None
    base = forecast_scenario(assumptions, "base", calibration.calibrated, years)
    high = forecast_scenario(assumptions, "high", calibration.calibrated, years)
    key = ["year", "segment", "material", "unit"]
    b = base.set_index(key)["value"]
    h = high.set_index(key)["value"]
    assert h.loc[(2040, "ev_bev", "NdFeB", "t_magnet")] > b.loc[(2040, "ev_bev", "NdFeB", "t_magnet")]
    assert h.loc[(2040, "robotics", "NdFeB", "t_magnet")] == b.loc[(2040, "robotics", "NdFeB", "t_magnet")]
