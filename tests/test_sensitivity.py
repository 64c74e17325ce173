"""Sensitivity: Sobol indices recover known ones; the sweep and the indices rank the inputs that matter."""

from __future__ import annotations

import numpy as np
import pytest
from SALib.sample import sobol as sobol_sample

from forecast.scenarios import resolve_parameters
from forecast.sensitivity import COLUMNS, sensitivity, sobol_indices


def test_sobol_indices_of_an_additive_linear_function_are_its_variance_shares():
    """y = sum a_i x_i with independent uniform x_i: S1_i = ST_i = a_i^2 / sum a_j^2."""
    a = np.array([4.0, 2.0, 1.0, 0.0])
    problem = {"num_vars": 4, "names": ["a", "b", "c", "d"], "bounds": [[0.0, 1.0]] * 4}
    x = sobol_sample.sample(problem, 4096, calc_second_order=False, seed=1)
    got = sobol_indices(problem, x @ a)
    expected = a**2 / np.sum(a**2)
    np.testing.assert_allclose(got["S1"], expected, atol=0.02)
    np.testing.assert_allclose(got["ST"], expected, atol=0.02)


@pytest.fixture(scope="module")
def table(assumptions_fitted, calibration_fitted):
    params = resolve_parameters(assumptions_fitted, "base", calibration_fitted.calibrated)
    return sensitivity(assumptions_fitted, params, "base", (2030, 2040), base_samples=256)


def test_every_output_year_and_input_has_a_row_with_the_documented_columns(table):
    assert list(table.columns) == COLUMNS
    assert set(table["output"]) == {"total", "NdPr", "Dy", "Tb"}
    assert set(table["year"]) == {2030, 2040}
    per = table.groupby(["year", "output"]).size()
    assert per.nunique() == 1
    assert per.iloc[0] > 20


def test_the_sweep_is_sorted_by_swing_and_brackets_the_central_value(table, assumptions_fitted):
    t = table[(table["year"] == 2040) & (table["output"] == "total")]
    swing = (t["output_high"] - t["output_low"]).abs().to_numpy()
    assert (np.diff(swing) <= 1e-6).all()
    assert swing[0] > 0


def test_motor_mass_drives_2040_magnet_demand_and_heavy_rare_earth_content_drives_dysprosium(table):
    total = table[(table["year"] == 2040) & (table["output"] == "total")].sort_values("ST", ascending=False)
    assert "ev.motor_kg" in " ".join(total["name"].head(3))
    dy = table[(table["year"] == 2040) & (table["output"] == "Dy")].sort_values("ST", ascending=False)
    assert any("Dy" in n or "heavy_re_factor" in n for n in dy["name"].head(2))
    comp = total[total["name"].str.startswith("composition.")]
    assert (comp["ST"].abs() < 0.02).all()  # composition cannot move magnet tonnage
