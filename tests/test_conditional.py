"""Conditional Monte Carlo for the world totals: exact splits, the right distribution, less error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtr, ndtri

from forecast.calibration import band_parameters
from forecast.conditional import (
    TABLE_Z,
    Block,
    Marginal,
    normal_table,
    solve,
    total_quantiles,
    truncated_table,
)
from forecast.demand import segment_driver
from forecast.drivers import driver_arrays
from forecast.model import unit_driver_units
from forecast.montecarlo import QUANTILES, draw, evaluate, quantile_error, quantile_table, year_columns
from forecast.priors import (
    DRIVER_FAMILIES,
    PROPORTIONAL_FAMILIES,
    TRUNCATION,
    Z95,
    capped_multipliers,
    driver_ceilings,
)
from forecast.scenarios import resolve_parameters

YEARS = np.arange(2024, 2051)
REPORTED = ("t_magnet", "t_oxide")


@pytest.fixture(scope="module")
def fitted(assumptions_fitted, calibration_fitted):
    params = resolve_parameters(assumptions_fitted, "base", calibration_fitted.calibrated)
    return assumptions_fitted, params


def truncated_cdf(score: np.ndarray) -> np.ndarray:
    return np.clip((ndtr(score) - TRUNCATION) / (1 - 2 * TRUNCATION), 0.0, 1.0)


def interpolated(table, score: np.ndarray) -> np.ndarray:
    cell = np.clip(score * table.per_unit + table.origin, 0.0, table.last)
    whole = np.floor(cell).astype(int)
    return table.values[whole] + (cell - whole) * table.steps[whole]


def test_the_tables_are_the_normal_and_truncated_normal_distribution_functions():
    score = np.linspace(-12, 12, 100_001)
    np.testing.assert_allclose(interpolated(normal_table(), score), ndtr(score), atol=1e-6)
    np.testing.assert_allclose(interpolated(truncated_table(), score), truncated_cdf(score), atol=1e-6)
    assert interpolated(normal_table(), np.array([-TABLE_Z - 1]))[0] == normal_table().values[0]
    assert interpolated(truncated_table(), np.array([-Z95 - 0.1, Z95 + 0.1])).tolist() == [0.0, 1.0]


def linear_marginal(centre: float, low: float, high: float, n_years: int = 1) -> Marginal:
    return Marginal(
        centre=np.full(n_years, centre),
        below=np.full(n_years, (centre - low) / Z95),
        above=np.full(n_years, (high - centre) / Z95),
        ceiling=np.full(n_years, np.inf),
        log=False,
        truncated=True,
    )


def log_marginal(sigma: float, ceiling: float = np.inf, n_years: int = 1) -> Marginal:
    return Marginal(
        centre=np.zeros(n_years),
        below=np.full(n_years, sigma),
        above=np.full(n_years, sigma),
        ceiling=np.full(n_years, ceiling),
        log=True,
        truncated=False,
    )


def one_row(rest: np.ndarray, slope: np.ndarray, marginal: Marginal) -> Block:
    return Block.of([(rest[:, None], slope[:, None], marginal, np.array([0]))])


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**31 - 1),
    st.floats(0.01, 0.3),
    st.floats(0.05, 0.9),
    st.floats(0.05, 0.9),
)
def test_a_paths_probability_is_its_inputs_prior_at_the_value_that_meets_y(seed, centre, down, up):
    """P(rest + slope g <= y) = F_g((y - rest) / slope), with F_g the split normal truncated at its range,
    and its derivative in y is the prior's density there over the slope."""
    rng = np.random.default_rng(seed)
    low, high = centre * (1 - down), centre * (1 + up)
    rest, slope = rng.uniform(50, 150, 64), rng.uniform(100, 400, 64)
    y = float(np.median(rest + slope * centre))
    g = (y - rest) / slope
    score = np.where(g >= centre, (g - centre) / ((high - centre) / Z95), (g - centre) / ((centre - low) / Z95))
    expected = truncated_cdf(score).mean()
    cdf, density = one_row(rest, slope, linear_marginal(centre, low, high)).cdf(np.array([y]))
    assert cdf[0] == pytest.approx(expected, abs=2e-6)
    scale = np.where(g >= centre, (high - centre) / Z95, (centre - low) / Z95)
    inside = np.abs(score) <= Z95
    expected_density = np.mean(np.where(inside, np.exp(-0.5 * score**2) / np.sqrt(2 * np.pi), 0.0) / scale / slope)
    assert density[0] == pytest.approx(expected_density / (1 - 2 * TRUNCATION), rel=5e-3, abs=1e-9)


def test_a_capped_log_normal_input_gives_certainty_at_its_ceiling():
    """Above the ceiling the multiplier cannot go: the probability is 1, below it the log-normal's."""
    rest, slope = np.array([100.0]), np.array([50.0])
    block = one_row(rest, slope, log_marginal(0.4, ceiling=1.5))
    at_ceiling = block.cdf(np.array([100.0 + 50.0 * 1.5]))[0][0]
    below = block.cdf(np.array([100.0 + 50.0 * 1.2]))[0][0]
    assert at_ceiling == 1.0
    assert below == pytest.approx(ndtr(np.log(1.2) / 0.4), abs=2e-6)


def test_a_path_without_slope_keeps_its_step():
    """A path whose input is zero contributes 1{rest <= y}."""
    block = one_row(np.array([100.0, 300.0]), np.array([0.0, 0.0]), linear_marginal(0.5, 0.0, 1.0))
    cdf, _ = block.cdf(np.array([200.0]))
    assert cdf[0] == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize("offset", [-0.02, 0.0, 0.02])
def test_the_solver_finds_the_quantiles_of_a_known_distribution(offset):
    """Every path equal: total = 200 + 1000 g, so its quantiles are the input's. From a start 2% off, one
    Newton step (the service's) lands within 0.25%, three within 1e-6."""
    n = 256
    marginal = linear_marginal(0.2, 0.1, 0.35)
    block = one_row(np.full(n, 200.0), np.full(n, 1000.0), marginal)
    score = ndtri(TRUNCATION + (1 - 2 * TRUNCATION) * np.array(QUANTILES))
    g = np.where(score >= 0, 0.2 + score * (0.35 - 0.2) / Z95, 0.2 + score * (0.2 - 0.1) / Z95)
    exact = 200.0 + 1000.0 * g
    start = (exact * (1 + offset))[None, :]
    np.testing.assert_allclose(solve(block, start, QUANTILES)[0], exact, rtol=2.5e-3)
    np.testing.assert_allclose(solve(block, start, QUANTILES, steps=3)[0], exact, rtol=1e-6)


@pytest.mark.parametrize("family", PROPORTIONAL_FAMILIES)
def test_segments_of_a_proportional_family_scale_with_its_multiplier_and_no_other_moves(fitted, family):
    """The split the conditional estimator relies on: moving the family's score multiplies its segments by
    the change of its (capped) multiplier and leaves every other row as it was."""
    a, params = fitted
    d = draw(a, params, 16, 3, YEARS)
    moved = d.z.copy()
    moved[:, d.priors.groups.index(f"driver:{family}")] += 0.7
    before, after = evaluate(a, params, d.priors, d.z), evaluate(a, params, d.priors, moved)
    base = driver_arrays(a.histories(), params, d.priors.years, a.driver_trends, unit_driver_units(a))
    ceilings = driver_ceilings(base, params)
    ratio = capped_multipliers(d.priors, moved, ceilings)[family] / capped_multipliers(d.priors, d.z, ceilings)[family]
    assert (ratio > 1).any()
    drivers = set(DRIVER_FAMILIES[family])
    for key, v in before.items():
        if segment_driver(a.structure.segments[key[0]]) in drivers:
            np.testing.assert_allclose(after[key], v * ratio, rtol=1e-9, err_msg=str(key))
        else:
            np.testing.assert_array_equal(after[key], v, err_msg=str(key))


def test_an_elements_rows_scale_with_their_grades_content_and_no_other_moves(fitted):
    """The composition split: moving composition.<grade>.Tb multiplies that grade's Tb rows by the change
    of the content; every other row stays."""
    a, params = fitted
    d = draw(a, params, 16, 5, YEARS)
    name = "composition.high_coercivity.Tb"
    group = d.priors.groups.index(name)
    moved = d.z.copy()
    moved[:, group] = np.clip(moved[:, group] + 0.5, -Z95, Z95)
    before, after = evaluate(a, params, d.priors, d.z), evaluate(a, params, d.priors, moved)
    values_before = d.priors.parameter_values(d.z)[name]
    values_after = d.priors.parameter_values(moved)[name]
    for key, v in before.items():
        grade = a.structure.segments[key[0]].grade
        if key[1] == "Tb" and grade == "high_coercivity":
            np.testing.assert_allclose(after[key], v * (values_after / values_before)[:, None], rtol=1e-9)
        else:
            np.testing.assert_array_equal(after[key], v, err_msg=str(key))


def test_conditional_totals_agree_with_the_order_statistics_within_their_noise(fitted, calibration_fitted):
    """Both estimate the same quantiles: at 4,096 paths within 3% (the order statistics' own error is
    up to 1.7%); the segments' rows are the same numbers."""
    a, _ = fitted
    drawn = band_parameters(a, calibration_fitted, "base")
    kwargs = {"basis": "finished", "units": REPORTED, "centred": False}
    conditional = quantile_table(a, drawn, "base", YEARS, 4096, **kwargs)
    plain = quantile_table(a, drawn, "base", YEARS, 4096, conditional=False, **kwargs)
    columns = ["p5", "p10", "p50", "p90", "p95"]
    totals = conditional["segment"] == "total"
    np.testing.assert_allclose(conditional.loc[totals, columns], plain.loc[totals, columns], rtol=0.03)
    assert not np.allclose(conditional.loc[totals, columns], plain.loc[totals, columns], rtol=1e-6)
    np.testing.assert_array_equal(conditional.loc[~totals, columns], plain.loc[~totals, columns])
    ordered = conditional[columns].to_numpy()
    assert (np.diff(ordered, axis=1) >= 0).all()


def test_conditioning_cuts_the_totals_monte_carlo_error_under_half_a_percent(fitted, calibration_fitted):
    """The standard deviation over independent scramblings of the totals' P5 and P95, 2030 and 2040:
    under 0.5% of the value with conditioning, and smaller than the order statistics'."""
    a, _ = fitted
    drawn = band_parameters(a, calibration_fitted, "base")
    years = np.array([2030, 2040])
    errors = {
        conditional: quantile_error(a, drawn, years, 4096, 4, "finished", REPORTED, conditional=conditional)
        for conditional in (True, False)
    }
    worst = {k: e.loc[e["segment"] == "total", ["err_p5", "err_p95"]].to_numpy().max() for k, e in errors.items()}
    assert worst[True] < 0.005
    assert worst[True] < worst[False] / 2


def test_without_a_split_that_moves_the_order_statistics_stay(fitted):
    """The magnet total in years where no proportional driver moves (history): its order statistics stay."""
    a, params = fitted
    d = draw(a, params, 64, 0, YEARS)
    series = evaluate(a, params, d.priors, d.z, select=lambda k: k[1] == "NdFeB" and k[2] == "finished")
    cols = year_columns(d.priors.years, YEARS)
    paths = sum(v[:, cols].astype(float) for k, v in series.items() if k[3] == "t_magnet")
    start = np.quantile(paths, QUANTILES, axis=0, method="closest_observation").T[None]
    total = [("total", "NdFeB", "finished", "t_magnet")]
    got = total_quantiles(a, d.priors, d.z, {}, series, cols, total, start, QUANTILES, n_paths=64)
    still = np.all([d.priors.sigma[f][cols] == 0 for f in PROPORTIONAL_FAMILIES if f in d.priors.sigma], axis=0)
    moving = ~still
    assert still.any() and moving.any()
    np.testing.assert_array_equal(got[0][still], start[0][still])
    assert not np.array_equal(got[0][moving], start[0][moving])


def test_a_ceiling_below_the_central_multiplier_is_still_a_ceiling():
    """A family whose central path already exceeds its cap (ceiling < 1): the multiplier never passes it."""
    block = one_row(np.array([100.0]), np.array([50.0]), log_marginal(0.4, ceiling=0.8))
    assert block.cdf(np.array([100.0 + 50.0 * 0.85]))[0][0] == 1.0
    assert block.cdf(np.array([100.0 + 50.0 * 0.7]))[0][0] == pytest.approx(ndtr(np.log(0.7) / 0.4), abs=2e-6)
