"""Elements follow the composition; oxide factors are stoichiometric and round-trip; net oxide is gross less swarf."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forecast import params as parameters
from forecast.composition import (
    ce_substitution_name,
    element_fraction,
    metal_per_oxide,
    oxide_gross_t,
    oxide_net_t,
    oxide_per_metal,
)
from forecast.model import demand_for_params, horizon_years
from forecast.scenarios import resolve_parameters


def test_nd2o3_factor_is_stoichiometric(assumptions):
    nd = assumptions.structure.elements["Nd"]
    # (2 x 144.242 + 3 x 15.999) / (2 x 144.242) = 1.16638
    assert oxide_per_metal(nd, 144.242, 15.999) == pytest.approx(1.16638, abs=1e-5)


@given(w=st.floats(50, 250), o=st.floats(10, 20))
def test_oxide_metal_factors_round_trip(assumptions, w, o):
    for el in assumptions.structure.elements.values():
        assert oxide_per_metal(el, w, o) * metal_per_oxide(el, w, o) == pytest.approx(1.0)
        assert oxide_per_metal(el, w, o) > 1.0


def test_gross_oxide_is_alloy_metal_over_reduction_yield_times_oxide_factor():
    out = oxide_gross_t(np.array([100.0]), np.array([0.93]), 1.166)
    assert out[0] == pytest.approx(100 / 0.93 * 1.166)


def test_net_oxide_credits_the_recycled_swarf():
    # 100 t of metal in the alloy, 75 t in finished magnets: 25 t of swarf, 80% of it recycled
    net = oxide_net_t(np.array([1000.0]), np.array([100.0]), np.array([75.0]), np.array([0.8]))
    assert net[0] == pytest.approx(1000.0 * (1 - 0.8 * 25 / 100))


@given(gross=st.floats(0, 1e6), alloy=st.floats(1e-3, 1e5), share=st.floats(0.5, 1.0), rate=st.floats(0, 1))
def test_net_oxide_never_exceeds_gross(gross, alloy, share, rate):
    net = oxide_net_t(np.array([gross]), np.array([alloy]), np.array([alloy * share]), np.array([rate]))
    assert 0.0 <= net[0] <= gross * (1 + 1e-12)


def test_every_segment_reports_net_and_gross_oxide_net_below_gross(assumptions):
    df = demand_for_params(assumptions, resolve_parameters(assumptions, "base"), horizon_years(assumptions))
    key = ["segment", "material", "year"]
    net = df[df["unit"] == "t_oxide"].set_index(key)["value"].sort_index()
    gross = df[df["unit"] == "t_oxide_gross"].set_index(key)["value"].sort_index()
    assert list(net.index) == list(gross.index)
    assert (net <= gross).all()
    assert (net.groupby(level="segment").sum() < gross.groupby(level="segment").sum()).all()


def test_elements_follow_the_composition_on_every_basis(assumptions):
    params = resolve_parameters(assumptions, "base")
    years = horizon_years(assumptions)
    df = demand_for_params(assumptions, params, years)
    for basis in ("finished", "blank", "alloy"):
        on = df[df["basis"] == basis]
        mag = on[on["material"] == "NdFeB"].set_index(["segment", "year"])["value"]
        for el in ("Nd", "Pr", "Dy", "Tb"):
            got = on[(on["material"] == el) & (on["unit"] == "t_metal")].set_index(["segment", "year"])["value"]
            for seg, spec in assumptions.structure.segments.items():
                frac = element_fraction(params, spec.grade, el, years)
                np.testing.assert_allclose(got.loc[seg].to_numpy(), mag.loc[seg].to_numpy() * frac)


def test_elements_never_exceed_the_magnet(assumptions):
    df = demand_for_params(assumptions, resolve_parameters(assumptions, "base"), horizon_years(assumptions))
    key = ["segment", "basis", "year"]
    contained = df[df["unit"] == "t_metal"].groupby(key)["value"].sum()
    mag = df[df["material"] == "NdFeB"].set_index(key)["value"]
    assert (contained <= mag.loc[contained.index]).all()


def test_heavy_re_thrifting_lowers_dy_and_tb_only(assumptions):
    params = resolve_parameters(assumptions, "thrifting")
    years = np.array([2024, 2040])
    dy = element_fraction(params, "high_coercivity", "Dy", years)
    nd = element_fraction(params, "high_coercivity", "Nd", years)
    assert dy[1] < dy[0]
    assert nd[1] == nd[0]
    assert nd[0] == parameters.scalar(params, "composition.high_coercivity.Nd")


def _with_ce_substitution(params, share):
    name = ce_substitution_name("standard")
    return {**params, name: params[name].with_values(share)}


@given(low=st.floats(0.0, 0.3), extra=st.floats(0.0, 0.3))
def test_cerium_replaces_nd_and_pr_of_the_standard_grade_only(assumptions, low, extra):
    """More cerium in standard-grade magnets never raises their Nd or Pr, and leaves Dy, Tb and the
    high-coercivity grade as they are."""
    base = resolve_parameters(assumptions, "base")
    years = np.array([2030])
    less, more = (_with_ce_substitution(base, s) for s in (low, min(low + extra, 0.3)))
    for el in ("Nd", "Pr"):
        assert element_fraction(more, "standard", el, years)[0] <= element_fraction(less, "standard", el, years)[0]
        plain = parameters.scalar(base, f"composition.standard.{el}")
        assert element_fraction(less, "standard", el, years)[0] == pytest.approx(plain * (1.0 - low))
    for grade, el in (("standard", "Dy"), ("high_coercivity", "Nd"), ("high_coercivity", "Pr")):
        assert element_fraction(more, grade, el, years)[0] == element_fraction(less, grade, el, years)[0]


def test_cerium_lowers_world_ndpr_oxide_and_not_the_magnet_tonnage(assumptions):
    base = resolve_parameters(assumptions, "base")
    years = np.array([2024])
    with_ce, without = (demand_for_params(assumptions, p, years) for p in (base, _with_ce_substitution(base, 0.0)))

    def ndpr_oxide(d):
        return d[d["material"].isin(["Nd", "Pr"]) & (d["unit"] == "t_oxide_gross")]["value"].sum()

    def magnet(d):
        return d[d["material"] == "NdFeB"]["value"].sum()

    assert ndpr_oxide(with_ce) < 0.95 * ndpr_oxide(without)
    assert magnet(with_ce) == pytest.approx(magnet(without))
