"""Scenarios side by side: totals, segments and elements from the tidy demand table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast.compare import compare_table, difference_table, gap_compare_table
from forecast.model import forecast_scenario, horizon_years

YEARS = np.array([2030, 2040])


@pytest.fixture(scope="module")
def two_scenarios(assumptions, calibration):
    return pd.concat(
        [forecast_scenario(assumptions, s, calibration.calibrated, YEARS) for s in ("high", "base")], ignore_index=True
    )


def test_totals_are_the_sum_of_segments_on_the_chosen_basis(two_scenarios):
    total = compare_table(two_scenarios, "total", "blank", "magnet")
    segments = compare_table(two_scenarios, "segment", "blank", "magnet")
    summed = segments.groupby(["scenario", "year"])["value"].sum()
    assert np.allclose(total.set_index(["scenario", "year"])["value"].sort_index(), summed.sort_index())
    assert set(total["unit"]) == {"t_magnet"}
    assert set(total["basis"]) == {"blank"}


def test_scenarios_keep_the_order_they_were_given_in(two_scenarios):
    out = compare_table(two_scenarios, "total")
    assert list(dict.fromkeys(out["scenario"])) == ["high", "base"]
    assert list(out["year"]) == [2030, 2040, 2030, 2040]


def test_blank_is_more_than_finished_and_oxide_ignores_the_basis(two_scenarios):
    finished = compare_table(two_scenarios, "total", "finished")["value"].to_numpy()
    blank = compare_table(two_scenarios, "total", "blank")["value"].to_numpy()
    assert np.all(blank > finished)
    oxide_finished = compare_table(two_scenarios, "element", "finished", "oxide")
    oxide_alloy = compare_table(two_scenarios, "element", "alloy", "oxide")
    pd.testing.assert_frame_equal(oxide_finished, oxide_alloy)
    assert set(oxide_finished["item"]) == {"Nd", "Pr", "Dy", "Tb"}
    assert set(oxide_finished["basis"]) == {"oxide"}


def test_elements_in_magnet_units_are_metal_contained(two_scenarios):
    metal = compare_table(two_scenarios, "element", "finished", "magnet")
    assert set(metal["unit"]) == {"t_metal"}
    magnet = compare_table(two_scenarios, "total", "finished", "magnet")
    by = metal.groupby(["scenario", "year"])["value"].sum()
    share = by / magnet.set_index(["scenario", "year"])["value"]
    assert ((share > 0.2) & (share < 0.4)).all()  # Nd+Pr+Dy+Tb are about 30% of NdFeB by mass


def test_bands_only_where_the_monte_carlo_gives_them(two_scenarios):
    total = two_scenarios.groupby(["year", "scenario", "material", "basis", "unit"], as_index=False)["value"].sum()
    q = total.assign(segment="total", p5=total["value"] * 0.9, p95=total["value"] * 1.1)
    with_q = pd.concat([two_scenarios, q], ignore_index=True)
    assert compare_table(with_q, "total")["p95"].notna().all()
    assert "p5" not in compare_table(with_q, "segment").columns
    assert "p5" not in compare_table(with_q, "total", unit="oxide").columns
    assert compare_table(with_q, "element", unit="oxide")["p5"].notna().all()


def test_unknown_dimension_is_refused(two_scenarios):
    with pytest.raises(ValueError, match="by must be one of"):
        compare_table(two_scenarios, "country")
    with pytest.raises(ValueError, match="unit must be one of"):
        compare_table(two_scenarios, "total", unit="kg")


def test_difference_against_the_reference(two_scenarios):
    out = difference_table(compare_table(two_scenarios, "total"), "base")
    base = out[out["scenario"] == "base"]
    assert np.allclose(base["diff_t"], 0)
    assert np.allclose(base["diff_pct"], 0)
    high = out[out["scenario"] == "high"]
    assert (high["diff_t"] > 0).all()


def test_gap_comparison_is_the_chain_gap_outside_china():
    gap = pd.DataFrame(
        {
            "year": [2040, 2040, 2040],
            "scenario": ["base", "base", "base"],
            "chain": ["outside_china", "china_free", "outside_china"],
            "region": ["ex_china", "ex_china", "world"],
            "stage": ["chain", "chain", "chain"],
            "material": ["NdFeB"] * 3,
            "gap_t": [100.0, 150.0, 900.0],
        }
    )
    out = gap_compare_table(gap)
    assert dict(zip(out["item"], out["value"], strict=True)) == {"outside_china": 100.0, "china_free": 150.0}
    assert set(out["basis"]) == {"blank"}


@settings(max_examples=25, deadline=None)
@given(scale=st.floats(min_value=0.1, max_value=10.0), by=st.sampled_from(["total", "segment", "element"]))
def test_scaling_demand_scales_every_compared_value(assumptions, calibration, scale, by):
    d = forecast_scenario(assumptions, "base", calibration.calibrated, horizon_years(assumptions, 2040, 2040))
    out = compare_table(d, by)
    scaled = compare_table(d.assign(value=d["value"] * scale), by)
    assert np.allclose(scaled["value"], out["value"] * scale)
