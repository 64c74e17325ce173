"""Tonnage bases: alloy -> blank -> finished by sourced yields; conversions round-trip; every basis sums."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forecast.basis import from_finished, to_finished, to_finished_factor
from forecast.model import demand_for_params, horizon_years, total_magnet_t
from forecast.scenarios import resolve_parameters
from forecast.schemas import BASES

YEARS = np.array([2023, 2030])


@pytest.fixture(scope="module")
def params(assumptions):
    return resolve_parameters(assumptions, "base")


@given(tonnes=st.floats(0, 1e7), basis=st.sampled_from(BASES))
def test_conversions_round_trip(params, tonnes, basis):
    x = np.full(YEARS.shape, tonnes)
    np.testing.assert_allclose(to_finished(from_finished(x, params, basis, YEARS), params, basis, YEARS), x)


def test_finished_is_less_than_blank_is_less_than_alloy(params):
    one = np.ones(YEARS.shape)
    finished, blank, alloy = (from_finished(one, params, b, YEARS) for b in BASES)
    assert (finished < blank).all()
    assert (blank < alloy).all()
    np.testing.assert_allclose(blank, 1 / params["manufacturing.machining_yield"].value)
    np.testing.assert_allclose(alloy, blank / params["manufacturing.sintering_yield"].value)


def test_unknown_basis_is_named(params):
    with pytest.raises(ValueError, match="unknown basis 'powder'"):
        to_finished_factor(params, "powder", YEARS)


def test_every_basis_is_the_sum_of_its_segments_and_the_bases_scale(assumptions, params):
    years = horizon_years(assumptions)
    df = demand_for_params(assumptions, params, years)
    finished = total_magnet_t(df, "finished")
    for basis in BASES:
        seg = df[(df["material"] == "NdFeB") & (df["basis"] == basis)]
        assert seg["segment"].nunique() == len(assumptions.structure.segments)
        np.testing.assert_allclose(total_magnet_t(df, basis), seg.groupby("year")["value"].sum())
        np.testing.assert_allclose(total_magnet_t(df, basis), from_finished(finished.to_numpy(), params, basis, years))


def test_an_intensity_published_on_the_blank_basis_is_converted_once(assumptions, params):
    """The same number entered as a blank intensity gives machining-yield times the finished demand."""
    name = "robots.industrial.kg_per_unit"
    years = np.array([2023])
    as_blank = {**params, name: params[name].model_copy(update={"basis": "blank"})}

    def robots(ps):
        d = demand_for_params(assumptions, ps, years)
        sel = (d["segment"] == "industrial_robots") & (d["material"] == "NdFeB") & (d["basis"] == "finished")
        return float(d[sel]["value"].iloc[0])

    assert robots(as_blank) == pytest.approx(robots(params) * params["manufacturing.machining_yield"].value)
