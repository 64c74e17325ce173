"""Driver projections: the logistic fit and history-then-trend series."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from forecast.drivers import LogisticFit, fit_logistic, project_drivers
from forecast.params import value as parameter_value
from forecast.scenarios import apply_overrides, resolve_parameters


@given(
    cap=st.floats(1e3, 1e8),
    rate=st.floats(0.05, 1.0),
    midpoint=st.floats(2015, 2040),
)
def test_logistic_fit_recovers_an_exact_logistic(cap, rate, midpoint):
    years = np.arange(2010, 2025)
    truth = LogisticFit(cap, rate, midpoint)
    values = truth(years)
    assume(((values > 0) & (values < cap * (1 - 1e-9))).sum() >= 5)  # enough unsaturated points to fit
    fit = fit_logistic(years, values, cap)
    assert fit.rate == pytest.approx(rate, rel=1e-4)
    assert fit.midpoint_year == pytest.approx(midpoint, abs=1e-3)


def test_flat_history_falls_back_to_the_last_level():
    fit = fit_logistic(np.arange(2015, 2020), np.array([5.0, 5.0, 5.0, 4.0, 4.0]), cap=100.0)
    assert fit.rate == 0.0
    assert fit(np.array([2030]))[0] == pytest.approx(4.0)


def test_too_short_history_is_a_clear_error():
    with pytest.raises(ValueError, match="at least two observations"):
        fit_logistic(np.array([2020]), np.array([3.0]), cap=10.0)


def test_history_is_kept_and_projection_follows(assumptions):
    params = resolve_parameters(assumptions, "base")
    years = np.arange(2015, 2051)
    d = project_drivers(assumptions.histories(), params, years)
    bev = d[d["driver"] == "ev_car_sales.BEV"].set_index("year")
    assert bev.loc[2023, "value"] == 9_500_000
    assert bev.loc[2023, "kind"] == "history"
    assert bev.loc[2030, "kind"] == "projection"
    on = d[d["driver"] == "wind_installs.onshore"].set_index("year")
    w = assumptions.wind_installations
    published = w[(w["region"] == "World") & (w["location"] == "onshore") & (w["year"] == 2024)]["value"].iloc[0]
    assert on.loc[2024, "value"] == published
    cap = d[d["driver"] == "cars.market"].set_index("year")["value"] * params["drivers.ev_share.saturation"].value
    total = d[d["driver"].str.startswith("ev_car_sales")].groupby("year")["value"].sum()
    assert (total <= cap * 1.0001).all()


def test_sales_multiplier_scales_projection_only(assumptions):
    params = resolve_parameters(assumptions, "base")
    years = np.arange(2020, 2041)
    up = apply_overrides(params, {"drivers.ev_sales_multiplier": 1.2})
    d0 = project_drivers(assumptions.histories(), params, years)
    d1 = project_drivers(assumptions.histories(), up, years)
    v0 = d0.set_index(["driver", "year"])["value"]
    v1 = d1.set_index(["driver", "year"])["value"]
    assert v1[("ev_car_sales.BEV", 2022)] == v0[("ev_car_sales.BEV", 2022)]
    assert v1[("ev_car_sales.BEV", 2035)] == pytest.approx(1.2 * v0[("ev_car_sales.BEV", 2035)])


def test_a_year_given_only_as_a_total_is_history_split_by_the_share(assumptions_copy):
    """A year published as BEV + PHEV only is history, split by ev.phev_share_of_sales."""
    from forecast.loading import load_assumptions

    path = assumptions_copy / "series" / "ev_car_sales.csv"
    lines = path.read_text().splitlines()
    kept = [ln for ln in lines if not (ln.startswith("2025,World,BEV") or ln.startswith("2025,World,PHEV"))]
    kept.append("2025,World,total,21200000,vehicles,iea_gevo_2026_data,")
    path.write_text("\n".join(kept) + "\n")
    a = load_assumptions(assumptions_copy)
    params = resolve_parameters(a, "base")
    d = project_drivers(a.histories(), params, np.arange(2020, 2031))
    ev = d[d["driver"].str.startswith("ev_car_sales")].pivot(index="year", columns="driver", values="value")
    kind = d[d["driver"] == "ev_car_sales.BEV"].set_index("year")["kind"]
    phev = float(parameter_value(params, "ev.phev_share_of_sales", np.array([2025]))[0])
    assert kind.loc[2025] == "history"
    assert kind.loc[2026] == "projection"
    assert ev.loc[2025].sum() == pytest.approx(21_200_000)
    assert ev.loc[2025, "ev_car_sales.PHEV"] == pytest.approx(21_200_000 * phev)


def test_split_years_are_untouched_by_the_share(assumptions):
    params = resolve_parameters(assumptions, "base")
    years = np.arange(2012, 2031)
    flipped = apply_overrides(params, {"ev.phev_share_of_sales": 0.6})
    d0 = project_drivers(assumptions.histories(), params, years)
    d1 = project_drivers(assumptions.histories(), flipped, years)
    bev0 = d0[d0["driver"] == "ev_car_sales.BEV"].set_index("year")["value"]
    bev1 = d1[d1["driver"] == "ev_car_sales.BEV"].set_index("year")["value"]
    assert (bev0.loc[2012:2025] == bev1.loc[2012:2025]).all()
    assert (bev1.loc[2026:2030] < bev0.loc[2026:2030]).all()


def _commercial(assumptions, params, years):
    d = project_drivers(assumptions.histories(), params, years)
    d = d[d["driver"].str.startswith("ev_commercial_sales.")]
    return d.assign(mode=d["driver"].str.split(".").str[1]).pivot(index="year", columns="mode", values="value")


def test_commercial_vehicles_keep_history_then_meet_the_iea_steps_anchors(assumptions):
    """Each mode keeps its own published years (they may end in different years), then runs straight
    to the IEA STEPS anchors."""
    params = resolve_parameters(assumptions, "base")
    years = np.arange(2012, 2051)
    sales = _commercial(assumptions, params, years)
    hist = assumptions.ev_commercial_sales.pivot(index="year", columns="mode", values="value")
    for mode in ("bus", "truck", "van"):
        observed = hist[mode].dropna()
        last = int(observed.index.max())
        assert (sales.loc[observed.index, mode] == observed).all()
        anchors = params[f"drivers.ev_commercial_sales.{mode}"].trajectory
        for year, value in anchors.items():
            assert sales.loc[year, mode] == pytest.approx(value)
        # straight line from the last observation to the first anchor
        first = min(anchors)
        mid = (last + first) // 2
        expected = observed.loc[last] + (anchors[first] - observed.loc[last]) * (mid - last) / (first - last)
        assert sales.loc[mid, mode] == pytest.approx(expected)
        assert sales.loc[2050, mode] == pytest.approx(anchors[max(anchors)])


def test_the_electrification_multiplier_moves_commercial_projections_only(assumptions):
    params = resolve_parameters(assumptions, "base")
    years = np.arange(2015, 2051)
    up = apply_overrides(params, {"drivers.ev_sales_multiplier": 1.2})
    s0, s1 = _commercial(assumptions, params, years), _commercial(assumptions, up, years)
    for mode, rows in assumptions.ev_commercial_sales.groupby("mode"):
        last = int(rows["year"].max())
        assert (s0.loc[:last, mode] == s1.loc[:last, mode]).all()
        assert np.allclose(s1.loc[last + 1 :, mode], 1.2 * s0.loc[last + 1 :, mode])


def _world_ev_total(assumptions, params, years):
    d = project_drivers(assumptions.histories(), params, years)
    return d[d["driver"].str.startswith("ev_car_sales.")].groupby("year")["value"].sum()


def test_the_iea_steps_scenario_follows_the_published_path_for_electric_cars(assumptions):
    years = np.arange(2015, 2051)
    base = resolve_parameters(assumptions, "base")
    steps = resolve_parameters(assumptions, "iea_steps")
    t_base, t_steps = _world_ev_total(assumptions, base, years), _world_ev_total(assumptions, steps, years)
    anchors = steps["drivers.ev_car_sales_steps"].trajectory
    last = int(assumptions.ev_car_sales["year"].max())
    for year, value in anchors.items():
        assert t_steps.loc[year] == pytest.approx(value)
    assert t_steps.loc[2050] == pytest.approx(anchors[max(anchors)])  # held after the last anchor
    assert (t_steps.loc[:last] == t_base.loc[:last]).all()  # history is history in every scenario
    assert t_base.loc[2030] != pytest.approx(anchors[2030])  # the base is the fitted trend, not the path


@settings(deadline=None)
@given(w=st.floats(0.0, 1.0))
def test_the_steps_weight_blends_trend_and_path_linearly(assumptions, w):
    years = np.arange(2020, 2041)
    base = resolve_parameters(assumptions, "base")
    steps = apply_overrides(base, {"drivers.ev_car_steps_weight": 1.0})
    mixed = apply_overrides(base, {"drivers.ev_car_steps_weight": w})
    t0, t1 = _world_ev_total(assumptions, base, years), _world_ev_total(assumptions, steps, years)
    tw = _world_ev_total(assumptions, mixed, years)
    assert np.allclose(tw, (1 - w) * t0 + w * t1)
