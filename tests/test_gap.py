"""The gap: demand minus supply, coverage, and the binding stage."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.gap import chain_output, gap_table
from forecast.params import at_years
from forecast.scenarios import resolve_parameters


@pytest.fixture(scope="module")
def gap(assumptions, calibration):
    return gap_table(assumptions, "base", calibration.calibrated)


def test_gap_equals_demand_minus_supply(gap):
    np.testing.assert_allclose(gap["gap_t"], gap["demand_t"] - gap["supply_risked_t"])
    np.testing.assert_allclose(gap["gap_nameplate_t"], gap["demand_t"] - gap["supply_nameplate_t"])
    ok = gap["demand_t"] > 0
    np.testing.assert_allclose(gap.loc[ok, "coverage"], gap.loc[ok, "supply_risked_t"] / gap.loc[ok, "demand_t"])


def test_every_year_to_2050_has_the_magnet_stage(gap):
    m = gap[(gap["stage"] == "magnet") & (gap["material"] == "NdFeB") & (gap["region"] == "ex_china")]
    assert m["year"].max() == 2050
    assert m["year"].is_unique
    assert set(m["binding_stage"]) <= {"mine", "separation", "metal_alloy", "magnet"}


def test_ex_china_demand_is_world_demand_times_the_sourced_share(gap, assumptions, calibration):
    share_param = resolve_parameters(assumptions, "base", calibration.calibrated)["demand.ex_china_share"]
    w = gap[(gap["region"] == "world")].set_index(["year", "stage", "material"])["demand_t"].sort_index()
    x = gap[(gap["region"] == "ex_china")].set_index(["year", "stage", "material"])["demand_t"].sort_index()
    years = w.index.get_level_values("year").to_numpy()
    share = at_years(share_param, years)
    assert 0 < share.min() < 1  # a real share: the equality below cannot pass with 0 or 1
    np.testing.assert_allclose(x.to_numpy(), w.to_numpy() * share, rtol=1e-12)


def test_chain_output_is_the_tightest_stage():
    out, bind = chain_output(
        {
            "mine": np.array([10.0, 5.0]),
            "separation": np.array([8.0, 9.0]),
            "metal_alloy": np.array([9.0, 9.0]),
            "magnet": np.array([20.0, 1.0]),
        }
    )
    np.testing.assert_allclose(out, [8.0, 1.0])
    assert list(bind) == ["separation", "magnet"]


def test_chain_never_exceeds_any_stage(gap):
    g = gap[(gap["material"] == "NdFeB") & (gap["region"] == "world")]
    chain = g[g["stage"] == "chain"].set_index("year")["supply_risked_t"]
    for s in ("separation", "metal_alloy", "magnet"):
        assert (chain <= g[g["stage"] == s].set_index("year")["supply_risked_t"] + 1e-9).all()
