"""The gap: demand minus supply per chain, coverage, and the binding stage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.bundle import demand_inputs, gap_and_balance, gap_table, regional_demand_inputs, world_balance
from forecast.gap import GAP_STAGES, capacity_arrays, chain_output, demand_by_material, gap_for_params, next_tightest
from forecast.model import horizon_years
from forecast.scenarios import resolve_parameters
from forecast.supply import stage_capacity

YEARS = np.arange(2020, 2041)


@pytest.fixture(scope="module")
def params(assumptions, calibration):
    return resolve_parameters(assumptions, "base", calibration.calibrated)


@pytest.fixture(scope="module")
def gap(assumptions, params):
    demand, eol, _ = demand_inputs(assumptions, params, YEARS)
    return gap_for_params(assumptions, params, "base", YEARS, demand, eol, quantiles=False)


def test_gap_equals_demand_minus_supply(gap):
    np.testing.assert_allclose(gap["gap_t"], gap["demand_t"] - gap["supply_risked_t"])
    np.testing.assert_allclose(gap["gap_nameplate_t"], gap["demand_t"] - gap["supply_nameplate_t"])
    ok = gap["demand_t"] > 0
    np.testing.assert_allclose(gap.loc[ok, "coverage"], gap.loc[ok, "supply_risked_t"] / gap.loc[ok, "demand_t"])


def test_both_chains_every_year_with_a_binding_stage(gap):
    m = gap[(gap["stage"] == "chain") & (gap["material"] == "NdFeB") & (gap["region"] == "ex_china")]
    assert set(m["chain"]) == {"outside_china", "china_free"}
    assert (m.groupby("chain")["year"].nunique() == len(YEARS)).all()
    assert set(m["binding_stage"]) <= {"mine", "separation", "metal", "alloy", "magnet"}
    np.testing.assert_allclose(m["binding_stage_t"], m["supply_risked_t"])
    assert (m["next_stage_t"] >= m["binding_stage_t"] - 1e-9).all()


def test_china_free_coverage_never_exceeds_outside_china(gap):
    for stage in ("mine", "separation", "metal", "alloy", "magnet", "chain"):
        g = gap[(gap["stage"] == stage) & (gap["region"] == "ex_china") & (gap["demand_t"] > 0)]
        w = g.pivot_table(index=["year", "material"], columns="chain", values="coverage")
        assert (w["china_free"] <= w["outside_china"] + 1e-12).all(), stage


def test_ex_china_demand_is_a_share_of_world(gap):
    w = gap[(gap["region"] == "world")].set_index(["year", "chain", "stage", "material"])["demand_t"]
    x = gap[(gap["region"] == "ex_china")].set_index(["year", "chain", "stage", "material"])["demand_t"]
    assert (x <= w).all()


def test_ex_china_demand_is_the_sum_of_the_regions_outside_china():
    years = np.array([2030])
    regions = ["china", "europe", "united_states", "rest_of_world"]
    table = pd.DataFrame(
        {
            "year": 2030,
            "region": regions,
            "segment": "x",
            "material": "NdFeB",
            "basis": "blank",
            "unit": "t_magnet",
            "value": [60.0, 20.0, 15.0, 5.0],
        }
    )
    d = demand_by_material(table, years)
    ndfeb = d[d["material"] == "NdFeB"].set_index("region")["demand_t"]
    assert ndfeb["ex_china"] == 40.0
    assert ndfeb["world"] == 100.0


def test_chain_output_is_the_tightest_stage():
    stages = {
        "mine": np.array([10.0, 5.0]),
        "separation": np.array([8.0, 9.0]),
        "metal": np.array([9.0, 9.0]),
        "alloy": np.array([12.0, 3.0]),
        "magnet": np.array([20.0, 1.0]),
    }
    out, bind = chain_output(stages)
    np.testing.assert_allclose(out, [8.0, 1.0])
    assert list(bind) == ["separation", "magnet"]
    nxt, nxt_t = next_tightest(stages)
    assert list(nxt) == ["metal", "alloy"]
    assert list(nxt_t) == [9.0, 3.0]


def test_chain_never_exceeds_any_stage(gap):
    g = gap[(gap["material"] == "NdFeB") & (gap["region"] == "world")]
    for chain in ("outside_china", "china_free"):
        c = g[g["chain"] == chain]
        out = c[c["stage"] == "chain"].set_index("year")["supply_risked_t"]
        for s in ("separation", "metal", "alloy", "magnet"):
            assert (out <= c[c["stage"] == s].set_index("year")["supply_risked_t"] + 1e-9).all()


def test_metal_and_alloy_are_separate_and_not_binding_every_year(gap):
    m = gap[(gap["stage"] == "chain") & (gap["material"] == "NdFeB") & (gap["region"] == "ex_china")]
    out = m[m["chain"] == "outside_china"]
    assert out["binding_stage"].nunique() > 1  # the binding stage moves as plants come online
    assert {"metal", "alloy"} <= set(gap["stage"])


def test_gap_takes_demand_as_an_argument(assumptions, params):
    years = np.array([2030])
    demand, eol, _ = demand_inputs(assumptions, params, years)
    doubled = demand.assign(demand_t=demand["demand_t"] * 2)
    a = gap_for_params(assumptions, params, "base", years, demand, eol, quantiles=False)
    b = gap_for_params(assumptions, params, "base", years, doubled, eol, quantiles=False)
    np.testing.assert_allclose(b["demand_t"], 2 * a["demand_t"])
    assert len(horizon_years(assumptions)) > 1


def test_rows_run_by_year_chain_region_material_and_stage_in_chain_order(gap):
    order = {s: i for i, s in enumerate(GAP_STAGES)}
    keys = list(zip(gap["year"], gap["chain"], gap["region"], gap["material"], gap["stage"].map(order), strict=True))
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert gap.index.equals(pd.RangeIndex(len(gap)))


def test_each_row_carries_its_own_material_and_region_demand(assumptions, params):
    years = np.array([2030, 2035])
    demand, eol, _ = demand_inputs(assumptions, params, years)
    g = gap_for_params(assumptions, params, "base", years, demand, eol, quantiles=False)
    merged = g.merge(demand, on=["year", "region", "material"], suffixes=("", "_given"))
    assert len(merged) == len(g)
    np.testing.assert_array_equal(merged["demand_t"], merged["demand_t_given"])


def test_a_demand_table_without_the_supplied_materials_is_refused(assumptions, params):
    years = np.array([2030])
    demand, eol, _ = demand_inputs(assumptions, params, years)
    with pytest.raises(ValueError, match="names none of the supplied materials"):
        ce = demand[demand["material"] == "NdFeB"].assign(material="Ce")
        gap_for_params(assumptions, params, "base", years, ce, eol, quantiles=False)


def test_a_demand_table_with_a_row_twice_names_it(assumptions, params):
    years = np.array([2030])
    demand, eol, _ = demand_inputs(assumptions, params, years)
    with pytest.raises(ValueError, match="more than one row for world, NdFeB, 2030"):
        gap_for_params(assumptions, params, "base", years, pd.concat([demand, demand]), eol, quantiles=False)


def test_capacity_arrays_hold_every_key_year_by_year_and_nan_where_a_year_is_missing(assumptions, params):
    years = np.array([2025, 2030])
    cap = stage_capacity(assumptions, params, years)
    arrays = capacity_arrays(cap[cap["year"] == 2030], years)
    assert len(arrays) == len(cap.drop_duplicates(["chain", "material", "stage", "weighting"]))
    for (chain, material, stage, weighting), v in list(arrays.items())[:20]:
        row = cap[(cap["chain"] == chain) & (cap["material"] == material) & (cap["stage"] == stage)]
        want = row[(row["weighting"] == weighting) & (row["year"] == 2030)]["value"].item()
        assert np.isnan(v[0]) and v[1] == want


@pytest.mark.parametrize("scenario", ["base", "export_controls"])
def test_gap_alone_and_balance_alone_equal_the_pair_from_one_demand_run(assumptions, params, scenario):
    p = resolve_parameters(assumptions, scenario)
    pair_gap, pair_balance = gap_and_balance(assumptions, p, scenario, YEARS, quantiles=False)
    pd.testing.assert_frame_equal(gap_table(assumptions, p, scenario, YEARS, quantiles=False), pair_gap)
    pd.testing.assert_frame_equal(world_balance(assumptions, p, scenario, YEARS), pair_balance)


@pytest.mark.parametrize("years", [np.array([2031, 2030]), np.array([2030, 2030])])
def test_years_out_of_order_or_twice_are_refused(assumptions, params, years):
    demand, eol, _ = demand_inputs(assumptions, params, np.array([2030, 2031]))
    with pytest.raises(ValueError, match="years must be increasing and distinct"):
        gap_for_params(assumptions, params, "base", years, demand, eol, quantiles=False)
    with pytest.raises(ValueError, match="years must be increasing and distinct"):
        demand_by_material(regional_demand_inputs(assumptions, params, np.array([2030, 2031]))[1], years)


def test_a_capacity_table_with_a_row_twice_names_it(assumptions, params):
    years = np.array([2030])
    cap = stage_capacity(assumptions, params, years)
    with pytest.raises(ValueError, match="more than one row for outside_china, NdFeB, mine, nameplate, 2030"):
        capacity_arrays(pd.concat([cap, cap]), years)


def test_a_year_without_ex_china_magnet_demand_still_shows_the_chain_capacity(assumptions, params):
    years = np.array([2030, 2031])
    demand, eol, _ = demand_inputs(assumptions, params, years)
    missing = (demand["year"] == 2031) & (demand["region"] == "ex_china") & (demand["material"] == "NdFeB")
    g = gap_for_params(assumptions, params, "base", years, demand[~missing], eol, quantiles=False)
    chain = g[(g["year"] == 2031) & (g["stage"] == "chain") & (g["material"] == "NdFeB")]
    assert chain["supply_risked_t"].notna().all() and (chain["supply_risked_t"] >= 0).all()
