"""Elements follow the composition; oxide factors are stoichiometric and round-trip."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forecast.composition import element_fraction, metal_per_oxide, oxide_needed_t, oxide_per_metal
from forecast.model import demand_for_params, horizon_years
from forecast.params import scalar
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


def test_oxide_needed_exceeds_contained_metal():
    out = oxide_needed_t(np.array([100.0]), np.array([0.75]), np.array([0.93]), 1.166)
    assert out[0] == pytest.approx(100 / 0.75 / 0.93 * 1.166)


def test_elements_follow_the_composition(assumptions):
    params = resolve_parameters(assumptions, "base")
    years = horizon_years(assumptions)
    df = demand_for_params(assumptions, params, years)
    mag = df[(df["material"] == "NdFeB")].set_index(["segment", "year"])["value"]
    for el in ("Nd", "Pr", "Dy", "Tb"):
        got = df[(df["material"] == el) & (df["unit"] == "t_magnet")].set_index(["segment", "year"])["value"]
        for seg, spec in assumptions.structure.segments.items():
            frac = element_fraction(params, spec.grade, el, years)
            np.testing.assert_allclose(got.loc[seg].to_numpy(), mag.loc[seg].to_numpy() * frac)


def test_elements_never_exceed_the_magnet(assumptions):
    df = demand_for_params(assumptions, resolve_parameters(assumptions, "base"), horizon_years(assumptions))
    contained = df[(df["material"] != "NdFeB") & (df["unit"] == "t_magnet")].groupby(["segment", "year"])["value"].sum()
    mag = df[df["material"] == "NdFeB"].set_index(["segment", "year"])["value"]
    assert (contained <= mag.loc[contained.index]).all()


def test_heavy_re_thrifting_lowers_dy_and_tb_only(assumptions):
    params = resolve_parameters(assumptions, "thrifting")
    years = np.array([2024, 2040])
    dy = element_fraction(params, "high_coercivity", "Dy", years)
    nd = element_fraction(params, "high_coercivity", "Nd", years)
    assert dy[1] < dy[0]
    assert nd[1] == nd[0] == scalar(params, "composition.high_coercivity.Nd")
