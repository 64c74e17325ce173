"""Calibration as an estimation problem: minimum standardized move, within ranges, with a tension."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from forecast.calibration import band_parameters, calibrate, demand_ratio
from forecast.model import demand_for_params, forecast_scenario, horizon_years, total_magnet_t
from forecast.priors import BACKTESTED, FAMILY_LEVER, priors, spread_factor_name, trend_moves
from forecast.scenarios import resolve_parameters

ITERATION_LIMIT = 9  # scipy's SLSQP status "Iteration limit reached"


def _with_target(assumptions, ratio, **history):
    cal = assumptions.model.calibration.model_copy(update={"ratio": ratio, **history})
    return assumptions.model_copy(update={"model": assumptions.model.model_copy(update={"calibration": cal})})


def _with_parameter(assumptions, name, value):
    params = dict(assumptions.parameters)
    params[name] = params[name].with_values(value)
    return assumptions.model_copy(update={"parameters": params})


@pytest.fixture(scope="module")
def reachable(assumptions, calibration):
    """A target between the evidence and what the ranges allow: the calibration can meet it."""
    a = _with_target(assumptions, calibration.uncalibrated_ratio * 1.15)
    return a, calibrate(a)


def test_the_report_names_every_field_the_product_promises(calibration):
    d = calibration.to_dict()
    for key in (
        "target_ratio",
        "achieved_ratio",
        "uncalibrated_ratio",
        "base_year",
        "target_year",
        "method",
        "parameters",
        "tension",
        "uplift_by_segment",
        "provenance",
    ):
        assert key in d, key
    assert {"name", "unit", "before", "after", "low", "high", "z"} <= set(d["parameters"][0])
    assert {"chi2", "dof", "p_value", "meaning"} <= set(d["tension"])
    assert d["provenance"]["statement"]
    assert d["provenance"]["interpretation"]


def test_a_reachable_target_is_met_within_tolerance_by_the_deterministic_model(reachable):
    a, result = reachable
    assert result.reachable
    assert result.within_tolerance
    params = resolve_parameters(a, "base", result.calibrated)
    assert demand_ratio(a, params, 2023, 2040) == pytest.approx(result.target_ratio, rel=a.model.calibration.tolerance)


def test_no_parameter_leaves_its_range(reachable):
    _, result = reachable
    assert result.calibrated
    for name, p in result.calibrated.items():
        assert all(p.low <= v <= p.high for v in p.points()), name
    for row in result.parameters:
        assert abs(row.z) <= 1.96 + 1e-6, row.name
        assert min(row.low, row.high) - 1e-9 <= row.after <= max(row.low, row.high) + 1e-9, row.name


def test_the_history_is_kept(reachable):
    a, result = reachable
    cal = a.model.calibration
    assert abs(result.history["base_year_error"]) <= cal.history_tolerance + 1e-6
    assert result.history["hindcast_mape"] <= cal.history_mape_limit + 1e-6


def test_the_move_is_spread_not_one_knob(reachable):
    """The minimum-norm move uses every input in proportion to its leverage: several inputs move."""
    _, result = reachable
    moved = [p for p in result.parameters if abs(p.z) > 0.1]
    assert len(moved) >= 5


def test_moving_a_prior_centre_up_moves_the_solution_the_same_way(assumptions, reachable):
    """A heavier sourced central motor needs less calibrated move of the motor mass's score, and the
    calibrated value itself ends higher."""
    a, result = reachable
    shifted = calibrate(_with_parameter(a, "ev.motor_kg.BEV", 1.7))
    before = next(p for p in result.parameters if p.name == "ev.motor_kg.BEV")
    after = next(p for p in shifted.parameters if p.name == "ev.motor_kg.BEV")
    assert after.after > before.after
    assert shifted.tension.chi2 < result.tension.chi2


def test_tension_rises_as_the_target_moves_away_from_the_evidence(assumptions, calibration, reachable):
    r0 = calibration.uncalibrated_ratio
    near, far = (calibrate(_with_target(assumptions, r0 * f)).tension for f in (1.05, 1.3))
    middle = reachable[1].tension
    assert near.chi2 < middle.chi2 < far.chi2
    assert near.p_value > middle.p_value > far.p_value


def test_an_unreachable_target_is_reported_not_forced(assumptions):
    result = calibrate(_with_target(assumptions, 50.0))
    assert not result.reachable
    assert not result.within_tolerance
    assert result.calibrated == {}
    assert not result.uplift_applied
    assert result.reachable_ratio < 50.0


def test_uncalibrated_ratio_is_what_the_central_values_give(assumptions, calibration):
    central = resolve_parameters(assumptions, "uncalibrated", calibration.calibrated)
    assert demand_ratio(assumptions, central, 2023, 2040) == pytest.approx(calibration.uncalibrated_ratio, rel=1e-9)


def test_a_target_below_the_central_ratio_moves_inputs_down(assumptions, calibration):
    lower = calibration.uncalibrated_ratio * 0.9
    result = calibrate(_with_target(assumptions, lower))
    assert result.achieved_ratio == pytest.approx(lower, rel=0.01)
    assert any(p.z < -0.1 for p in result.parameters)


def test_uplift_by_segment_adds_up_to_the_change_of_the_target_year(reachable):
    a, result = reachable
    base = forecast_scenario(a, "base", result.calibrated)
    central = forecast_scenario(a, "uncalibrated", result.calibrated)
    pick = lambda d: d[(d["year"] == 2040) & (d["material"] == "NdFeB") & (d["basis"] == "finished")]["value"].sum()  # noqa: E731
    assert sum(result.uplift_by_segment.values()) == pytest.approx(pick(base) - pick(central), rel=1e-6)


def test_the_uncalibrated_scenario_ignores_the_calibration_and_base_uses_it(reachable):
    a, result = reachable
    name = next(iter(result.calibrated))
    assert resolve_parameters(a, "base", result.calibrated)[name] == result.calibrated[name]
    assert resolve_parameters(a, "uncalibrated", result.calibrated)[name] == a.parameters[name]


def test_the_calibrated_base_holds_its_range_end_inputs_in_its_draws(assumptions_reaching, calibration_reaching):
    """Inputs moved to a range end have no spread left in the calibrated base's Monte Carlo; the rest keep theirs,
    a scenario's own override is not held, and a scenario off the calibration is left as it is."""
    a, cal = assumptions_reaching, calibration_reaching
    at_end = {r.name for r in cal.parameters if abs(r.z) >= 1.959 and not r.name.startswith("driver:")}
    inside = {r.name for r in cal.parameters if 0.5 < abs(r.z) < 1.9 and not r.name.startswith("driver:")}
    assert at_end, "the bundled calibration moves some inputs to a range end"
    held = band_parameters(a, cal, "base")
    calibrated = resolve_parameters(a, "base", cal.calibrated)
    for name in at_end:
        assert held[name].low == held[name].high == calibrated[name].value, name
    for name in inside:
        assert held[name].high > held[name].low, name
    name = sorted(at_end)[0]
    exempt = band_parameters(a, cal, "base", overrides={name: calibrated[name].low})
    assert exempt[name].high > exempt[name].low
    assert band_parameters(a, cal, "uncalibrated")[name].high > band_parameters(a, cal, "uncalibrated")[name].low


@pytest.mark.parametrize("scenario", ["base", "high", "low", "robotics_boom"])
def test_the_calibrated_path_served_has_no_step_after_history(assumptions_reaching, calibration_reaching, scenario):
    """With the backtested drivers, a calibrated driver move changes the trend, not the first projected year:
    growth into that year stays within 3 points of the fastest of the last three history years, and changes
    by at most 3 points from one projected year to the next."""
    a, cal = assumptions_reaching, calibration_reaching
    assert any(r.family is not None and abs(r.z) > 0.1 for r in cal.parameters)
    params = resolve_parameters(a, scenario, cal.calibrated)
    years = horizon_years(a)
    total = total_magnet_t(demand_for_params(a, params, years)).to_numpy()
    growth = np.diff(total) / total[:-1]
    last_history = int(a.ev_car_sales["year"].max())
    first = int(np.searchsorted(years, last_history + 1)) - 1  # index of the growth into the first projected year
    assert growth[first] <= growth[first - 3 : first].max() + 0.03
    assert np.abs(np.diff(growth[first:])).max() <= 0.03


def test_a_calibrated_driver_move_reaches_its_score_in_the_target_year(assumptions_fitted, calibration_fitted):
    """The backtested families' spread read as a trend: zero in the last observed year, linear to the target
    year, the full spread from there on; families with a published high case keep theirs."""
    a = assumptions_fitted
    years = horizon_years(a)
    target = a.model.calibration.target_year
    full = priors(a, resolve_parameters(a, "base"), years)
    ramped = trend_moves(full, target)
    t = int(np.searchsorted(years, target))
    for fam, sigma in full.sigma.items():
        if fam not in BACKTESTED:
            np.testing.assert_array_equal(ramped.sigma[fam], sigma)
            continue
        first = int(np.argmax(sigma > 0))
        assert ramped.sigma[fam][first] < sigma[first] / 5
        np.testing.assert_allclose(ramped.sigma[fam][t:], sigma[t:])
        steps = np.diff(ramped.sigma[fam][first - 1 : t + 1])
        np.testing.assert_allclose(steps, steps[0])


def test_a_driver_family_moved_to_the_end_of_its_interval_is_held_in_the_draws(
    assumptions_reaching, calibration_reaching
):
    """Families the calibration moved to |z| = 1.96 draw no spread in the calibrated base; the others keep
    theirs, the evidence keeps every family, and a what-if that sets a family's lever itself is not held."""
    a, cal = assumptions_reaching, calibration_reaching
    at_end = {r.family for r in cal.parameters if r.family is not None and abs(r.z) >= 1.959}
    inside = {r.family for r in cal.parameters if r.family is not None and abs(r.z) < 1.9}
    assert at_end and inside
    held = band_parameters(a, cal, "base")
    evidence = band_parameters(a, cal, "uncalibrated")
    for family in at_end | inside:
        name = spread_factor_name(family)
        assert held[name].value == (0.0 if family in at_end else 1.0), family
        assert evidence[name].value == 1.0, family
    family = sorted(at_end)[0]
    lever = FAMILY_LEVER[family]
    own = band_parameters(a, cal, "base", overrides={lever: resolve_parameters(a, "base")[lever].trajectory})
    assert own[spread_factor_name(family)].value == 1.0


def test_the_solver_converges_on_the_bundled_evidence(assumptions_reaching, monkeypatch):
    """SLSQP stops on its own criterion, not on its iteration limit (with a tolerance below the finite
    differences' noise it runs 200 iterations, about twenty times as long, for the same answer)."""
    import forecast.calibration as calibration_module

    statuses = []

    def recording(*args, **kwargs):
        result = minimize(*args, **kwargs)
        statuses.append(int(result.status))
        return result

    monkeypatch.setattr(calibration_module, "minimize", recording)
    cal = calibrate(assumptions_reaching)
    assert cal.reachable
    assert statuses and statuses[-1] == 0, statuses
    assert ITERATION_LIMIT not in statuses, statuses


def test_a_reachable_calibration_keeps_the_published_end_uses(calibration_reaching):
    """The base-year mix stays within the published range of every end use marked for the calibration."""
    assert calibration_reaching.end_uses
    for use in calibration_reaching.end_uses:
        assert use["within"], use
        assert use["moved_t"] >= use["low_t"] * (1 - 1e-6), use
        assert use["high_t"] is None or use["moved_t"] <= use["high_t"] * (1 + 1e-6), use


def test_the_published_mix_is_what_puts_the_bundled_target_out_of_reach(assumptions_fitted, calibration_fitted):
    """On the bundled evidence the DOE ratio is out of reach with the published end uses kept, so no move is
    applied; without them the ranges reach it (by moving the base year's tonnage from slow segments to fast)."""
    target = assumptions_fitted.model.calibration.ratio
    assert not calibration_fitted.reachable
    assert calibration_fitted.calibrated == {}
    assert calibration_fitted.reachable_ratio < target
    uses = assumptions_fitted.ndfeb_end_use.assign(calibration=False)
    unbound = calibrate(assumptions_fitted.model_copy(update={"ndfeb_end_use": uses}))
    assert unbound.end_uses == []
    assert unbound.reachable_ratio > target
    assert unbound.reachable


def test_an_end_use_bound_binds_the_solution(assumptions_reaching, calibration_reaching):
    """Narrowing the published range of electric-vehicle magnets in 2024 to the evidence's value lowers what
    the ranges can reach, and the solution keeps the narrower range."""
    uses = assumptions_reaching.ndfeb_end_use.copy()
    nev = (uses["end_use"] == "new_energy_vehicles") & (uses["year"] == 2024)
    evidence = next(u["evidence_t"] for u in calibration_reaching.end_uses if u["end_use"] == "new_energy_vehicles")
    uses.loc[nev, "high"] = evidence * 1.02
    narrow = calibrate(assumptions_reaching.model_copy(update={"ndfeb_end_use": uses}))
    assert narrow.reachable_ratio < calibration_reaching.reachable_ratio
    nev_2024 = next(u for u in narrow.end_uses if u["end_use"] == "new_energy_vehicles" and u["year"] == 2024)
    assert nev_2024["moved_t"] <= evidence * 1.02 * (1 + 1e-6)
