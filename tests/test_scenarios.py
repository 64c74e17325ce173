"""Scenarios are data: overrides of named parameters, validated, extendable without code."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

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
