"""Scenarios are data: overrides of named parameters, validated, extendable without code."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from forecast.bundle import gap_and_balance
from forecast.loading import load_assumptions
from forecast.model import forecast_scenario
from forecast.scenarios import UnknownScenarioError, apply_overrides, resolve_parameters, scenario_names


def test_required_scenarios_exist(assumptions):
    assert set(scenario_names(assumptions)) >= {"base", "high", "low", "thrifting", "rare_earth_free"}
    assert scenario_names(assumptions)[0] == "base"


def test_unknown_scenario_names_the_known_ones(assumptions):
    with pytest.raises(UnknownScenarioError) as exc:
        resolve_parameters(assumptions, "nope")
    assert "base" in str(exc.value)


def test_what_if_override_out_of_range_is_rejected(assumptions):
    with pytest.raises(ValidationError, match="outside its range"):
        apply_overrides(resolve_parameters(assumptions, "base"), {"ev.motor_kg.BEV": 5.0})


def test_user_can_add_a_scenario_without_code(assumptions_copy):
    path = assumptions_copy / "scenarios.yaml"
    data = yaml.safe_load(path.read_text())
    data["scenarios"]["heavy_motors"] = {
        "description": "2 kg motors",
        "source": "project_assumption",
        "overrides": {"ev.motor_kg.BEV": 2.0},
    }
    path.write_text(yaml.safe_dump(data))
    a = load_assumptions(assumptions_copy)
    df = forecast_scenario(a, "heavy_motors")
    base = forecast_scenario(a, "base")
    sel = (df["segment"] == "ev_bev") & (df["material"] == "NdFeB") & (df["year"] == 2030)
    assert df[sel]["value"].iloc[0] > base[sel]["value"].iloc[0]


def _total(df, year, material="NdFeB", unit="t_magnet", segment=None):
    sel = (df["year"] == year) & (df["material"] == material) & (df["unit"] == unit)
    sel &= df["basis"].isin(["finished", "oxide"])
    if segment:
        sel &= df["segment"] == segment
    return df[sel]["value"].sum()


@pytest.fixture(scope="module")
def runs(assumptions):
    """Every scenario on the evidence (no calibrated move), so each shows only its own overrides."""
    return {s: forecast_scenario(assumptions, s) for s in scenario_names(assumptions)}


def test_every_scenario_of_the_product_exists(assumptions):
    expected = {
        "base",
        "uncalibrated",
        "high",
        "low",
        "iea_steps",
        "ev_slowdown",
        "robotics_boom",
        "thrifting",
        "rare_earth_free",
        "recycling_push",
        "export_controls",
    }
    assert expected <= set(scenario_names(assumptions))


@pytest.mark.parametrize(
    ("scenario", "segment", "material", "unit", "direction"),
    [
        ("high", "ev_bev", "NdFeB", "t_magnet", +1),
        ("high", "wind_onshore", "NdFeB", "t_magnet", +1),
        ("low", "ev_bev", "NdFeB", "t_magnet", -1),
        ("ev_slowdown", "ev_bev", "NdFeB", "t_magnet", -1),
        ("robotics_boom", "humanoid_robots", "NdFeB", "t_magnet", +1),
        ("robotics_boom", "industrial_robots", "NdFeB", "t_magnet", +1),
        ("thrifting", None, "Dy", "t_oxide", -1),
        ("rare_earth_free", "wind_onshore", "NdFeB", "t_magnet", -1),
        ("export_controls", None, "Dy", "t_oxide", -1),
    ],
)
def test_each_scenario_changes_what_it_says_in_2040(runs, scenario, segment, material, unit, direction):
    base = _total(runs["base"], 2040, material, unit, segment)
    other = _total(runs[scenario], 2040, material, unit, segment)
    assert np.sign(other - base) == direction, (scenario, base, other)
    assert abs(other / base - 1) > 0.02


def test_recycling_push_recovers_more_and_needs_less_primary_oxide(assumptions, runs):
    """Collection and swarf recovery move the recycled line of the world balance (end of life, swarf) and,
    through the swarf recovered to oxide, lower the primary oxide magnets need."""
    assert _total(runs["recycling_push"], 2040, "Nd", "t_oxide") < _total(runs["base"], 2040, "Nd", "t_oxide")
    years = np.array([2040])
    recycled = {
        s: gap_and_balance(assumptions, resolve_parameters(assumptions, s), s, years, quantiles=False)[1]
        .set_index("material")
        .loc["NdPr", "recycled_t"]
        for s in ("base", "recycling_push")
    }
    assert recycled["recycling_push"] > 1.2 * recycled["base"], recycled


def test_scenarios_leave_alone_what_they_do_not_touch(runs):
    assert _total(runs["recycling_push"], 2040) == pytest.approx(_total(runs["base"], 2040))
    assert _total(runs["robotics_boom"], 2040, segment="ev_bev") == pytest.approx(
        _total(runs["base"], 2040, segment="ev_bev")
    )


def test_export_controls_thrift_heavy_rare_earths_faster_than_base(assumptions):
    p_base = resolve_parameters(assumptions, "base")
    p_ec = resolve_parameters(assumptions, "export_controls")
    for year in (2030, 2040, 2050):
        factor = "composition.heavy_re_factor"
        assert p_ec[factor].trajectory[year] < p_base[factor].trajectory[year]
    assert "demand.ex_china_share" not in p_ec  # ex-China demand is the sum of the regions, not a flat share


@pytest.mark.parametrize(
    ("scenario", "segment", "material", "unit", "direction"),
    [
        ("robotics_boom", "humanoid_robots", "NdFeB", "t_magnet", +1),
        ("ev_slowdown", "ev_bev", "NdFeB", "t_magnet", -1),
        ("high", "wind_onshore", "NdFeB", "t_magnet", +1),
        ("thrifting", None, "Dy", "t_oxide", -1),
    ],
)
def test_each_scenario_still_moves_past_the_calibrated_base(
    assumptions_reaching, calibration_reaching, scenario, segment, material, unit, direction
):
    """On top of a calibration that reaches its target a scenario must still change what it is about:
    robotics_boom goes past the calibrated humanoid path (which then sits at the published high case)."""
    a, cal = assumptions_reaching, calibration_reaching.calibrated
    base = _total(forecast_scenario(a, "base", cal), 2040, material, unit, segment)
    other = _total(forecast_scenario(a, scenario, cal), 2040, material, unit, segment)
    assert np.sign(other - base) == direction, (scenario, base, other)
    assert abs(other / base - 1) > 0.02, (scenario, base, other)
