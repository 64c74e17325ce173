"""World balance: China by stage, the rest of the world, recycling, demand; supply + deficit = demand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast.balance import BALANCE_MATERIALS, balance_table, china_supply_table
from forecast.bundle import demand_inputs, gap_and_balance, located_output
from forecast.scenarios import resolve_parameters

YEARS = np.arange(2015, 2041)


@pytest.fixture(scope="module")
def params(assumptions, calibration):
    return resolve_parameters(assumptions, "base", calibration.calibrated)


@pytest.fixture(scope="module")
def balance(assumptions, params):
    return gap_and_balance(assumptions, params, "base", YEARS, quantiles=False)[1]


def test_balance_closes_every_year_and_material(balance):
    assert set(balance["material"]) == set(BALANCE_MATERIALS)
    np.testing.assert_allclose(
        balance["china_t"] + balance["rest_of_world_t"] + balance["recycled_t"], balance["supply_t"]
    )
    np.testing.assert_allclose(balance["supply_t"] + balance["deficit_t"], balance["demand_t"])


@settings(max_examples=20, deadline=None)
@given(scale=st.floats(0.0, 5.0))
def test_balance_closes_for_any_demand(assumptions, params, scale):
    years = np.array([2025, 2030])
    demand, _, eol = demand_inputs(assumptions, params, years)
    world = demand[demand["region"] == "world"].assign(demand_t=lambda d: d["demand_t"] * scale)
    b = balance_table(assumptions, params, "x", years, world, located_output(assumptions, params, years), eol)
    np.testing.assert_allclose(b["supply_t"] + b["deficit_t"], b["demand_t"], atol=1e-6)
    want = world.groupby("material")["demand_t"].sum()
    np.testing.assert_allclose(b.groupby("material")["demand_t"].sum().reindex(want.index), want, atol=1e-6)


def test_china_history_is_the_published_figures(assumptions, params):
    t = china_supply_table(assumptions, params, YEARS).set_index(["stage", "year"])
    assert t.loc[("mine", 2024), "value_t"] == 270000
    assert t.loc[("mine", 2024), "kind"] == "history"
    assert t.loc[("separation", 2023), "value_t"] == 243850
    assert t.loc[("magnet", 2023), "value_t"] == 270000
    assert t.loc[("mine", 2030), "kind"] == "projection"
    assert t.loc[("mine", 2030), "value_t"] > 270000
    assert {"mine", "separation", "imported_feed", "metal", "magnet"} == set(t.index.get_level_values("stage"))


def test_recycled_supply_is_its_own_line_and_grows(balance):
    ndpr = balance[balance["material"] == "NdPr"].set_index("year")
    assert (ndpr["recycled_t"] > 0).all()
    assert ndpr.loc[2040, "recycled_t"] > ndpr.loc[2020, "recycled_t"]


def test_rest_of_world_is_located_output_without_chinese_feed_credit(assumptions, params):
    from forecast.supply import stage_capacity

    years = np.array([2025])
    located = located_output(assumptions, params, years)
    cap = stage_capacity(assumptions, params, years)
    sep = cap[(cap["weighting"] == "risked") & (cap["stage"] == "separation") & (cap["material"] == "NdPr")]
    outside = float(sep[sep["chain"] == "outside_china"]["value"].iloc[0])
    # the outside_china chain credits China's feed upstream; the balance must not
    assert 0 < located["NdPr"][0] < outside


CHECKS_FILE = "supply/balance_checks.csv"


@pytest.fixture(scope="module")
def published_checks():
    """Published figures the historical balance must stay near: year, material, line, low, high, source."""
    import pandas as pd

    from tests.conftest import ASSUMPTIONS_DIR

    return pd.read_csv(ASSUMPTIONS_DIR / CHECKS_FILE)


def test_every_published_check_cites_a_known_source(published_checks, assumptions):
    assert not published_checks.empty
    assert set(published_checks["source"]) <= set(assumptions.sources)
    assert (published_checks["low"] <= published_checks["value"]).all()
    assert (published_checks["value"] <= published_checks["high"]).all()


def _modelled(assumptions, params, balance, year: int, material: str, line: str) -> float:
    """The model's figure comparable with a published check line."""
    from forecast import params as parameters
    from forecast.balance import china_supply_table

    years = np.array([year])
    row = balance[(balance["year"] == year) & (balance["material"] == material)].iloc[0]
    t = china_supply_table(assumptions, params, years).set_index("stage")["value_t"]
    key = {"NdPr": "ndpr", "Dy": "dy", "Tb": "tb"}[material]
    if line == "china_quota":
        return float(t["separation"] * parameters.value(params, f"china.{key}_share_of_separated", years)[0])
    if line == "china_imported":
        return float(t["imported_feed"] * parameters.value(params, f"china.{key}_share_of_imported_feed", years)[0])
    if line == "china_with_recycled":
        return float(row["china_t"] + row["recycled_t"])
    if line == "recycled":
        return float(row["recycled_t"])
    if line == "world_supply_share_of_demand":
        return float(row["supply_t"] / row["demand_t"])
    if line == "market_balance":
        return float(row["supply_t"] - row["demand_t"])
    raise ValueError(f"unknown check line {line!r} in {CHECKS_FILE}")


def test_historical_balance_stays_within_published_ranges(assumptions, params, balance, published_checks):
    misses = []
    for c in published_checks.itertuples():
        got = _modelled(assumptions, params, balance, int(c.year), str(c.material), str(c.line))
        if not c.low <= got <= c.high:
            misses.append(
                f"{c.year} {c.material} {c.line}: model {got:,.3g} outside [{c.low:,}, {c.high:,}] ({c.source})"
            )
    assert not misses, "\n".join(misses)


def test_china_separates_imported_feed_on_top_of_its_quota(assumptions, params, balance):
    t = china_supply_table(assumptions, params, np.array([2023])).set_index("stage")["value_t"]
    ndpr = balance[(balance["year"] == 2023) & (balance["material"] == "NdPr")].iloc[0]
    assert t["imported_feed"] > 0
    from forecast import params as parameters

    quota_only = t["separation"] * parameters.value(params, "china.ndpr_share_of_separated", np.array([2023]))[0]
    assert ndpr["china_t"] > quota_only
