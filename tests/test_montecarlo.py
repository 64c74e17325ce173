"""Monte Carlo bands: ordered, reproducible, widening, and centred on the calibrated path."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forecast.calibration import band_parameters
from forecast.model import demand_for_params, demand_series
from forecast.montecarlo import (
    CODE_MAX,
    DTYPE,
    Draws,
    draw,
    evaluate,
    median_shift,
    order_statistics,
    quantile_ranks,
    quantile_table,
    simulate,
    sorted_quantiles,
)
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
    magnet = q[(q["material"] == "NdFeB") & (q["basis"] == "finished")].set_index("year")
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
    """A drawn intensity scales a segment by the same factor in every year of a path."""
    a, params = fitted
    paths = simulate(a, params, YEARS, n_paths=500)
    robots = paths[("industrial_robots", "NdFeB", "finished", "t_magnet")].astype(float)
    det = demand_for_params(a, params, YEARS)
    sel = (det["segment"] == "industrial_robots") & (det["material"] == "NdFeB") & (det["basis"] == "finished")
    ratio = robots / det[sel]["value"].to_numpy()[None, :]
    np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones_like(ratio), rtol=1e-5)


def test_components_sum_to_the_total_on_every_path(fitted):
    a, params = fitted
    paths = simulate(a, params, YEARS, n_paths=300)
    for basis in ("finished", "blank", "alloy"):
        total = sum(paths[(s, "NdFeB", basis, "t_magnet")].astype(float) for s in a.structure.segments)
        np.testing.assert_allclose(paths[("total", "NdFeB", basis, "t_magnet")], total, rtol=1e-5)


def test_pinned_draws_reproduce_the_deterministic_model(fitted):
    """Every score at zero (every input at its central value, no driver shock): the paths are the central forecast."""
    a, params = fitted
    n = 3
    d = draw(a, params, n, 0, YEARS)
    pinned = Draws(d.priors, np.zeros_like(d.z))
    paths = simulate(a, params, YEARS, n_paths=n, draws=pinned)
    central = demand_series(a, params, YEARS)
    for key, v in central.items():
        np.testing.assert_allclose(paths[key], np.broadcast_to(v, (n, len(YEARS))), rtol=1e-5, err_msg=str(key))


def test_degenerate_ranges_are_not_drawn_and_still_work(fitted):
    """A parameter with low == high is a known value: no score, its value on every path."""
    a, params = fitted
    known = {**params, "ev.motor_kg.BEV": params["ev.motor_kg.BEV"].model_copy(update={"low": 1.5, "high": 1.5})}
    d = draw(a, known, 64, 0, YEARS)
    assert "ev.motor_kg.BEV" not in d.priors.parameter_names
    assert "ev.motor_kg.PHEV" in d.priors.parameter_names
    q = quantile_table(a, known, "base", YEARS, n_paths=64)
    assert np.isfinite(q[["p5", "p50", "p95"]].to_numpy()).all()


def test_the_published_p50_is_the_central_path_on_every_row(fitted, calibration_fitted):
    """P50 is defined as the central path: every segment and total, every year, and the bands stay ordered."""
    a, params = fitted
    drawn = band_parameters(a, calibration_fitted, "base")
    q = quantile_table(a, drawn, "base", YEARS, n_paths=1024)
    central = demand_for_params(a, params, YEARS)
    keys = ["year", "segment", "material", "basis", "unit"]
    segments = central.set_index(keys)["value"]
    totals = central.groupby(["year", "material", "basis", "unit"])["value"].sum()
    rows = q.set_index(keys)
    seg_rows = rows[rows.index.get_level_values("segment") != "total"]
    np.testing.assert_allclose(seg_rows["p50"], segments.reindex(seg_rows.index), rtol=1e-9)
    tot_rows = rows[rows.index.get_level_values("segment") == "total"].droplevel("segment")
    np.testing.assert_allclose(tot_rows["p50"], totals.reindex(tot_rows.index), rtol=1e-9)
    ordered = q[["p5", "p10", "p50", "p90", "p95"]].to_numpy()
    assert (np.diff(ordered, axis=1) >= -1e-9 * np.abs(ordered[:, 1:])).all()


@pytest.mark.parametrize(("calibrated", "to_target_bound"), [(False, 0.05), (True, 0.10)])
def test_the_monte_carlos_own_median_stays_near_the_central_path(
    assumptions_reaching, calibration_reaching, calibrated, to_target_bound
):
    """What the centring removes is small: the raw P50 of every total lies within 5% of the central path to
    2040 (the calibration's target year) on the evidence, within 10% in a base calibrated to 97% of what the
    ranges reach (inputs moved to a range end held there), and within 12% to 2050. Electric cars near their
    saturation share can only fall short of the central path, which pulls the median of the totals they
    dominate (Dy, Tb) down; a calibration that raises their trend brings them nearer saturation."""
    a = assumptions_reaching
    scenario = "base" if calibrated else "uncalibrated"
    params = band_parameters(a, calibration_reaching, scenario)
    shift = median_shift(a, params, YEARS).set_index(["year", "material", "basis", "unit"])["shift"].abs()
    to_target = shift[shift.index.get_level_values("year") <= a.model.calibration.target_year]
    assert to_target.max() <= to_target_bound, to_target.idxmax()
    assert shift.max() <= 0.12, shift.idxmax()


def test_drawing_the_calibrated_base_around_its_range_ends_would_sink_its_median(
    assumptions_reaching, calibration_reaching
):
    """Why the calibrated base holds its range-end inputs: drawn around them, each sits below its calibrated
    value on every path, and the raw P50 of the total falls further under the central path than when they
    are held (bundled inputs calibrated to 97% of the reachable ratio: 2030 -2.1% against -1.9%, 2040 -4.5%
    against -4.0%)."""
    a = assumptions_reaching
    around = resolve_parameters(a, "base", calibration_reaching.calibrated)
    held = band_parameters(a, calibration_reaching, "base")
    years = np.array([2030, 2040])
    total = ("NdFeB", "finished", "t_magnet")
    sel = lambda m: m.set_index(["material", "basis", "unit", "year"]).sort_index().loc[total, "shift"].to_numpy()  # noqa: E731
    sunk, kept = sel(median_shift(a, around, years)), sel(median_shift(a, held, years))
    assert (sunk < 0).all()
    assert (np.abs(kept) < np.abs(sunk)).all(), (kept, sunk)


def test_the_base_year_total_is_allocated_among_segments_not_invented(fitted):
    """The residual segment absorbs the base-year draws: the base-year total is the central one on every path,
    while the segments themselves vary."""
    a, params = fitted
    base_year = a.model.calibration.base_year
    years = np.array([base_year, 2030])
    paths = simulate(a, params, years, n_paths=256)
    central = demand_for_params(a, params, years)
    sel = (central["material"] == "NdFeB") & (central["basis"] == "finished") & (central["year"] == base_year)
    total = paths[("total", "NdFeB", "finished", "t_magnet")][:, 0].astype(float)
    residual = paths[(a.model.uncertainty.residual_segment, "NdFeB", "finished", "t_magnet")][:, 0]
    # where the counted segments alone exceed the total the residual is empty (never negative)
    filled = residual > 0
    assert filled.mean() > 0.95
    assert (residual >= 0).all()
    np.testing.assert_allclose(total[filled], central[sel]["value"].sum(), rtol=1e-4)
    assert (total[~filled] > central[sel]["value"].sum()).all()
    assert paths[("ev_bev", "NdFeB", "finished", "t_magnet")][:, 0].std() > 0


def test_motor_masses_of_both_powertrains_share_one_score(fitted):
    a, params = fitted
    d = draw(a, params, 256, 0, YEARS)
    values = d.priors.parameter_values(d.z)
    bev, phev = values["ev.motor_kg.BEV"], values["ev.motor_kg.PHEV"]
    assert np.corrcoef(bev, phev)[0, 1] > 0.99
    assert abs(np.corrcoef(bev, values["ev.motors_per_vehicle.BEV"])[0, 1]) < 0.2


def test_draws_stay_within_the_sourced_ranges(fitted):
    a, params = fitted
    d = draw(a, params, 4096, 0, YEARS)
    for name, v in d.priors.parameter_values(d.z).items():
        assert v.min() >= params[name].low - 1e-12, name
        assert v.max() <= params[name].high + 1e-12, name


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
    # cars also move with the car market (an independent score), vans only with electrification
    assert (car_up.iloc[:2] >= van_up.iloc[:2] - 1e-9).all()


def test_electric_car_and_wind_bands_never_pass_their_market_caps(fitted):
    from forecast.montecarlo import driver_quantile_table

    a, params = fitted
    d = driver_quantile_table(a, params, "base", YEARS)
    market = d[d["driver"] == "cars.market"].set_index("year")["value"]
    for prefix, cap in (
        ("ev_car_sales.", market * params["drivers.ev_share.saturation"].value),
        ("wind_installs.", params["drivers.wind_cap_gw_per_yr"].value),
    ):
        top = d[d["driver"].str.startswith(prefix)].groupby("year")["p95"].sum()
        assert (top <= cap * (1 + 1e-9)).all(), prefix


def test_a_degenerate_range_is_a_fixed_value(fitted):
    """A sourced range with low == high is not drawn: the segment it drives has no parameter spread."""
    from forecast.model import demand_for_params

    a, params = fitted
    name = "robots.industrial.kg_per_unit"
    fixed = {**params, name: params[name].model_copy(update={"low": params[name].value, "high": params[name].value})}
    paths = simulate(a, fixed, YEARS, n_paths=200)[("industrial_robots", "NdFeB", "finished", "t_magnet")]
    det = demand_for_params(a, fixed, YEARS)
    sel = (det["segment"] == "industrial_robots") & (det["material"] == "NdFeB") & (det["basis"] == "finished")
    want = det[sel].set_index("year")["value"].to_numpy()
    np.testing.assert_allclose(paths, np.broadcast_to(want, paths.shape), rtol=1e-5)


def test_the_calibrated_base_band_stays_near_its_high_case_inputs(assumptions_reaching, calibration_reaching):
    """With car market and humanoid shipments held at their published high cases, the 2050 P95 of the
    calibrated base total stays within 1.5 times its central value (drawn around them: about 6.7 times)."""
    a = assumptions_reaching
    params = band_parameters(a, calibration_reaching, "base")
    q = quantile_table(a, params, "base", np.array([2050]), 1024, basis="finished", units=("t_magnet",))
    total = q[(q["segment"] == "total") & (q["material"] == "NdFeB")].iloc[0]
    assert total["p95"] <= 1.5 * total["p50"]
    assert total["p5"] < total["p50"] < total["p95"]


def _exact(rows: np.ndarray, ranks: list[int]) -> np.ndarray:
    return np.sort(rows, axis=1)[:, ranks]


@given(
    seed=st.integers(0, 2**32 - 1),
    sigma=st.floats(0.01, 3.0),
    scale=st.floats(1e-3, 1e7),
    n_paths=st.integers(8, 600),
)
def test_coded_order_statistics_lie_within_half_a_code_of_the_exact_ones(seed, sigma, scale, n_paths):
    """Positive rows are sorted on 16-bit codes: each order statistic within log2(max/min) / 131070 of the exact one."""
    rows = (scale * np.random.default_rng(seed).lognormal(0.0, sigma, size=(3, n_paths))).astype(np.float32)
    ranks = quantile_ranks(n_paths)
    exact = _exact(rows, ranks).astype(float)
    coded = order_statistics(rows.copy(), ranks).astype(float)
    # one code spans (span of bit patterns) / 65535; a bit pattern step is at most 2**-23 of the value
    octaves = np.log2(rows.max(axis=1) / rows.min(axis=1)) + 1.0
    bound = (octaves / (2 * CODE_MAX) + 2.0**-22)[:, None]
    assert (np.abs(coded / exact - 1.0) <= bound).all()


def test_rows_with_zeros_negatives_or_one_value_are_sorted_exactly():
    """The codes need positive values that differ: any other row takes the exact sort."""
    rng = np.random.default_rng(1)
    rows = rng.lognormal(size=(4, 101)).astype(np.float32)
    rows[0, :30] = 0.0  # a segment that has not started on some paths
    rows[1, 5] = -2.5
    rows[2] = 7.25
    ranks = quantile_ranks(101)
    expected = _exact(rows[:3], ranks)
    got = order_statistics(rows.copy(), ranks)
    np.testing.assert_array_equal(got[:3], expected)
    assert got[0, 0] == 0.0 and got[2, 2] == np.float32(7.25)


def test_threaded_quantiles_equal_one_pass_over_all_rows():
    """Splitting the rows between threads changes nothing."""
    rows = np.random.default_rng(2).lognormal(size=(9, 512)).astype(np.float32)
    np.testing.assert_array_equal(sorted_quantiles(rows.copy()), order_statistics(rows.copy(), quantile_ranks(512)))


def test_band_quantiles_are_the_paths_order_statistics(fitted):
    """quantile_table (centred=False, conditional=False) gives the order statistics of the simulated paths,
    within the codes' bound (the totals' conditional estimates: tests/test_conditional.py)."""
    a, params = fitted
    n = 256
    q = quantile_table(
        a, params, "base", YEARS, n_paths=n, basis="finished", units=("t_magnet",), centred=False, conditional=False
    )
    paths = simulate(a, params, YEARS, n_paths=n, select=lambda k: k[2] == "finished" and k[3] == "t_magnet")
    ranks = quantile_ranks(n)
    for (segment, material, basis, unit), got in q.groupby(["segment", "material", "basis", "unit"], sort=False):
        v = paths[(segment, material, basis, unit)].astype(np.float32)
        exact = np.sort(v, axis=0)[ranks].T.astype(float)
        observed = got[["p5", "p10", "p50", "p90", "p95"]].to_numpy()
        np.testing.assert_allclose(observed, exact, rtol=3e-4, atol=1e-6, err_msg=segment)


def test_band_paths_are_single_precision_and_the_calibrations_stay_double(fitted):
    """The bands' rows are computed in ``DTYPE`` (half the bytes); the same rows in float64, as the
    calibration's finite differences need them, agree to single precision."""
    a, params = fitted
    d = draw(a, params, 64, 0, YEARS)
    double = evaluate(a, params, d.priors, d.z)
    single = evaluate(a, params, d.priors, d.z, dtype=DTYPE)
    assert set(single) == set(double)
    for key, v in double.items():
        assert v.dtype == np.float64 and single[key].dtype == DTYPE, key
        np.testing.assert_allclose(single[key], v, rtol=2e-6, err_msg=str(key))
