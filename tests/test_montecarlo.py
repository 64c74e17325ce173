"""Monte Carlo bands: ordered, reproducible, widening, and centred on the calibrated path."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.montecarlo import draw, quantile_table, simulate
from forecast.scenarios import resolve_parameters

YEARS = np.arange(2024, 2051)


@pytest.fixture(scope="module")
def fitted(assumptions_fitted, calibration_fitted):
    params = resolve_parameters(assumptions_fitted, "base", calibration_fitted.calibrated)
    return assumptions_fitted, params


def test_quantiles_are_ordered(fitted):
    a, params = fitted
    q = quantile_table(a, params, "base", YEARS, n_paths=2000)
    v = q[["p5", "p10", "p50", "p90", "p95"]].to_numpy()
    assert (np.diff(v, axis=1) >= -1e-6).all()


def test_same_seed_same_numbers_other_seed_other_numbers(fitted):
    a, params = fitted
    q1 = quantile_table(a, params, "base", YEARS, n_paths=1000, seed=7)
    q2 = quantile_table(a, params, "base", YEARS, n_paths=1000, seed=7)
    q3 = quantile_table(a, params, "base", YEARS, n_paths=1000, seed=8)
    assert q1.equals(q2)
    assert not q1.equals(q3)


def test_bands_widen_with_horizon_until_electric_car_sales_saturate(fitted):
    """Driver spread grows with the horizon; near the market cap electric car sales can only approach
    it, so the electric-car band stops widening there while the total keeps widening."""
    a, params = fitted
    q = quantile_table(a, params, "base", YEARS, n_paths=4000)
    magnet = q[q["material"] == "NdFeB"].set_index("year")
    width = {
        seg: magnet.loc[magnet["segment"] == seg, "p95"] - magnet.loc[magnet["segment"] == seg, "p5"]
        for seg in ("ev_bev", "total")
    }
    last_history = int(a.ev_car_sales["year"].max())
    ev = width["ev_bev"]
    assert ev.loc[last_history + 3] > ev.loc[last_history + 1] > ev.loc[last_history] > 0
    assert (ev.loc[last_history + 1 :] >= ev.loc[last_history + 1] * 0.99).all()
    assert width["total"].loc[2040] > width["total"].loc[2030] > width["total"].loc[last_history] > 0


def test_one_draw_per_path_not_per_year(fitted):
    a, params = fitted
    paths = simulate(a, params, YEARS, n_paths=500)
    trend = paths[("robotics", "NdFeB", "t_magnet")]
    ratio = trend[:, 1:] / trend[:, :-1]  # constant growth draw per path until the taper year
    early = ratio[:, : 2040 - 2024]
    assert np.allclose(early, early[:, :1])


def test_components_sum_to_the_total_on_every_path(fitted):
    a, params = fitted
    paths = simulate(a, params, YEARS, n_paths=300)
    segs = [s for s in a.structure.segments]
    total = sum(paths[(s, "NdFeB", "t_magnet")] for s in segs)
    np.testing.assert_allclose(paths[("total", "NdFeB", "t_magnet")], total)


def test_draws_stay_within_the_sourced_ranges(fitted):
    a, params = fitted
    d = draw(a, params, 5000, 0)
    for name, v in d.values.items():
        assert v.min() >= params[name].low - 1e-12, name
        assert v.max() <= params[name].high + 1e-12, name


def _pinned(params, n_paths: int):
    """Draws with every driver at its central path (z = 0) and every parameter at its central value."""
    from forecast.montecarlo import DRIVER_KEYS, Draws, uncertain_parameters

    def pinned_draw(a, p, n, seed):
        values = {k: np.full(n, float(p[k].value)) for k in uncertain_parameters(a, p)}
        return Draws({k: np.zeros(n) for k in DRIVER_KEYS}, values)

    return pinned_draw


def test_pinned_draws_give_the_deterministic_demand_on_every_path(fitted, monkeypatch):
    import forecast.montecarlo
    from forecast.model import demand_for_params

    a, params = fitted
    monkeypatch.setattr(forecast.montecarlo, "draw", _pinned(params, 3))
    paths = simulate(a, params, YEARS, n_paths=3)
    det = demand_for_params(a, params, YEARS).set_index(["segment", "material", "unit", "year"])["value"].sort_index()
    for seg in a.structure.segments:
        want = det.loc[(seg, "NdFeB", "t_magnet")].to_numpy()
        got = paths[(seg, "NdFeB", "t_magnet")]
        np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), rtol=1e-5, err_msg=seg)


def _degenerate(params, names):
    return {
        **params,
        **{n: params[n].model_copy(update={"low": params[n].value, "high": params[n].value}) for n in names},
    }


def test_a_degenerate_range_on_a_trend_growth_rate_is_a_fixed_value(fitted):
    from forecast.model import demand_for_params

    a, params = fitted
    fixed = _degenerate(params, ["other.robotics.growth_per_yr", "other.robotics.base_t"])
    paths = simulate(a, fixed, YEARS, n_paths=200)[("robotics", "NdFeB", "t_magnet")]
    det = demand_for_params(a, fixed, YEARS)
    want = det[(det["segment"] == "robotics") & (det["material"] == "NdFeB")].set_index("year")["value"]
    np.testing.assert_allclose(paths, np.broadcast_to(want.to_numpy(), paths.shape), rtol=1e-5)


def test_degenerate_ranges_everywhere_give_quantiles_without_spread_from_parameters(fitted):
    a, params = fitted
    constants = [n for n, p in params.items() if p.value is not None]
    q = quantile_table(a, _degenerate(params, constants), "base", YEARS, n_paths=300)
    trend = q[(q["segment"] == "robotics") & (q["material"] == "NdFeB")]
    np.testing.assert_allclose(trend["p5"], trend["p95"], rtol=1e-5)


@pytest.mark.parametrize("years", [np.arange(2024, 2051), np.arange(2042, 2050), np.array([2020, 2030, 2045])])
def test_compound_growth_matches_the_closed_form(years):
    from forecast.montecarlo import _compound

    g = np.array([[0.05], [0.3]], dtype=np.float32)
    got = _compound(g, 0.02, years, 2023, 2040)
    want = (1 + g.astype(float)) ** (np.minimum(years, 2040) - 2023) * 1.02 ** np.clip(years - 2040, 0, None)
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_driver_bands_are_the_demand_paths_spread_in_closed_form(fitted):
    """History has no spread; projections spread as exp(z sigma), so P50 is the central value."""
    from forecast.montecarlo import driver_quantile_table

    a, params = fitted
    d = driver_quantile_table(a, params, "base", YEARS)
    hist, proj = d[d["kind"] == "history"], d[d["kind"] == "projection"]
    assert np.allclose(hist["p5"], hist["value"])
    assert np.allclose(hist["p95"], hist["value"])
    assert np.allclose(proj["p50"], proj["value"])
    assert (proj["p5"] <= proj["p10"]).all()
    assert (proj["p90"] <= proj["p95"]).all()
    ev = proj[proj["driver"] == "ev_car_sales.BEV"].set_index("year")
    assert (ev["p95"] / ev["value"]).iloc[-1] > 1.0  # the fitted trend is uncertain, so bands open
    # one draw drives buses, trucks and vans as cars (one pace of electrification); only cars have a
    # market cap that can clip the upper band
    car, van = (proj[proj["driver"] == k].set_index("year") for k in ("ev_car_sales.BEV", "ev_commercial_sales.van"))
    both = car.index.intersection(van.index)
    car_up, van_up = (car["p95"] / car["value"]).loc[both], (van["p95"] / van["value"]).loc[both]
    assert (van_up >= car_up - 1e-9).all()
    assert np.allclose(car_up.iloc[:2], van_up.iloc[:2])  # far from the cap: the same band


def test_electric_car_and_wind_bands_never_pass_their_market_caps(fitted):
    from forecast.montecarlo import driver_quantile_table

    a, params = fitted
    d = driver_quantile_table(a, params, "base", YEARS)
    for prefix, cap in (
        ("ev_car_sales.", params["drivers.ev_car_market_cap"].value),
        ("wind_installs.", params["drivers.wind_cap_gw_per_yr"].value),
    ):
        top = d[d["driver"].str.startswith(prefix)].groupby("year")["p95"].sum()
        assert (top <= cap * (1 + 1e-9)).all(), prefix
