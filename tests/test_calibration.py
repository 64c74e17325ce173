"""Calibration to the DOE 2023 projection: explicit, within bounds, honest when unreachable."""

from __future__ import annotations

import pytest

from forecast.calibration import calibrate, demand_ratio
from forecast.model import forecast_scenario
from forecast.scenarios import resolve_parameters


def _with_target(assumptions, ratio):
    cfg = assumptions.model.model_copy(
        update={"calibration": assumptions.model.calibration.model_copy(update={"ratio": ratio})}
    )
    return assumptions.model_copy(update={"model": cfg})


@pytest.fixture(scope="module")
def reachable(assumptions, calibration):
    """A target between the evidence and what the ranges allow: the calibration can meet it."""
    a = _with_target(assumptions, calibration.uncalibrated_ratio * 1.15)
    return a, calibrate(a)


def test_the_doe_fourfold_is_reported_unreachable_with_the_evidence_and_nothing_is_forced(calibration):
    assert calibration.target_ratio == 4.0
    assert not calibration.reachable
    assert calibration.achieved_ratio < 4.0
    assert calibration.calibrated == {}


def test_a_reachable_target_is_met_within_one_percent(reachable):
    a, result = reachable
    assert result.reachable
    assert result.within_tolerance
    params = resolve_parameters(a, "base", result.calibrated)
    assert demand_ratio(a, params, 2023, 2040) == pytest.approx(result.target_ratio, rel=0.01)


def test_calibrated_parameters_stay_within_their_sourced_ranges(reachable):
    _, result = reachable
    assert result.parameters
    for p in result.parameters:
        values = p.after.values() if isinstance(p.after, dict) else [p.after]
        assert all(p.low <= v <= p.high for v in values), p.name
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
    assert result.calibrated == {}


def test_a_target_below_the_central_ratio_moves_parameters_down(assumptions, calibration):
    lower = calibration.uncalibrated_ratio * 0.9
    cfg = assumptions.model.model_copy(
        update={"calibration": assumptions.model.calibration.model_copy(update={"ratio": lower})}
    )
    result = calibrate(assumptions.model_copy(update={"model": cfg}))
    assert result.achieved_ratio == pytest.approx(lower, rel=0.01)
    assert any(p.after < p.before for p in result.parameters)


def test_other_scenarios_inherit_the_calibration(reachable):
    a, result = reachable
    high = resolve_parameters(a, "high", result.calibrated)
    own = set(a.scenarios["high"].overrides)
    inherited = [p.name for p in result.parameters if p.name not in own]
    assert inherited
    for name in inherited:
        assert high[name] == result.calibrated[name]


def test_scenarios_differ_from_base_where_they_override(reachable):
    a, result = reachable
    base = forecast_scenario(a, "base", result.calibrated)
    thrift = forecast_scenario(a, "thrifting", result.calibrated)
    key = ["year", "segment", "material", "basis", "unit"]
    b = base.set_index(key)["value"]
    h = thrift.set_index(key)["value"]
    row = (2040, "ev_bev", "NdFeB", "finished", "t_magnet")
    assert h.loc[row] < b.loc[row]
    robots = (2040, "industrial_robots", "NdFeB", "finished", "t_magnet")
    assert h.loc[robots] == b.loc[robots]
