"""Supply conversions round-trip with the demand side's oxide needs."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.basis import finished_per_alloy
from forecast.composition import oxide_gross_t
from forecast.conversions import (
    magnet_equivalent_per_unit,
    magnet_per_ndpr_oxide,
    ndpr_fraction,
    ndpr_oxide_per_magnet,
    ndpr_oxide_per_metal,
)
from forecast.scenarios import resolve_parameters

YEARS = np.array([2025, 2040])


@pytest.fixture(scope="module")
def ctx(assumptions):
    return resolve_parameters(assumptions, "base"), assumptions.structure.elements


def test_oxide_for_one_tonne_of_magnet_converts_back_to_one_tonne(ctx, assumptions):
    params, elements = ctx
    grade = "high_coercivity"
    oxide = 0.0
    for el in ("Nd", "Pr"):
        frac = params[f"composition.{grade}.{el}"].value
        from forecast.composition import oxide_per_metal

        factor = oxide_per_metal(
            elements[el], params[f"chem.atomic_weight.{el}"].value, params["chem.atomic_weight.O"].value
        )
        alloy_metal = np.array([frac]) / finished_per_alloy(params, YEARS[:1])
        oxide += oxide_gross_t(alloy_metal, np.array([params["refining.oxide_to_metal_yield"].value]), factor)[0]
    back = oxide * magnet_per_ndpr_oxide(params, elements, grade, YEARS)
    assert back[0] == pytest.approx(1.0, rel=1e-9)


def test_magnet_and_oxide_factors_are_inverse(ctx):
    params, elements = ctx
    prod = ndpr_oxide_per_magnet(params, elements, "standard", YEARS) * magnet_per_ndpr_oxide(
        params, elements, "standard", YEARS
    )
    np.testing.assert_allclose(prod, 1.0)


def test_chain_factors_are_consistent(ctx):
    params, elements = ctx
    g = "high_coercivity"
    metal = magnet_equivalent_per_unit("t_NdPr_metal", params, elements, g, YEARS)
    oxide = magnet_equivalent_per_unit("t_NdPr_oxide", params, elements, g, YEARS)
    # one tonne of oxide makes (yield / oxide-per-metal) tonnes of metal
    np.testing.assert_allclose(
        oxide, metal * params["refining.oxide_to_metal_yield"].value / ndpr_oxide_per_metal(params, elements, g, YEARS)
    )
    assert magnet_equivalent_per_unit("t_NdFeB_magnet", params, elements, g, YEARS)[0] == 1.0
    alloy = magnet_equivalent_per_unit("t_NdFeB_alloy", params, elements, g, YEARS)[0]
    assert alloy == pytest.approx(
        params["manufacturing.machining_yield"].value * params["manufacturing.sintering_yield"].value
    )
    treo = magnet_equivalent_per_unit("t_TREO_concentrate", params, elements, g, YEARS, ndpr_share_of_treo=0.25)
    np.testing.assert_allclose(treo, 0.25 * oxide)
    assert 1 / ndpr_fraction(params, g, YEARS)[0] > 3  # a tonne of NdPr metal makes several tonnes of magnet


def test_unknown_unit_is_an_error(ctx):
    params, elements = ctx
    with pytest.raises(ValueError, match="unknown supply unit"):
        magnet_equivalent_per_unit("t_unobtainium", params, elements, "standard", YEARS)


@pytest.mark.parametrize(
    "stage, unit",
    [
        ("mine", "t_NdPr_oxide"),
        ("mine", "t_TREO_concentrate"),
        ("separation", "t_NdPr_oxide"),
        ("separation", "t_TREO_separated"),
        ("metal", "t_NdPr_metal"),
        ("alloy", "t_NdFeB_alloy"),
        ("magnet", "t_NdFeB_magnet"),
        ("recycling", "t_NdFeB_magnet"),
        ("recycling", "t_magnet_feed"),
    ],
)
def test_every_stage_round_trips_to_oxide_and_back(ctx, stage, unit):
    """A stage's product -> magnet-equivalent -> NdPr oxide -> magnet-equivalent returns the same tonnes."""
    from forecast.schemas import STAGE_UNITS

    params, elements = ctx
    assert unit in STAGE_UNITS[stage]
    g = "high_coercivity"
    eq = magnet_equivalent_per_unit(unit, params, elements, g, YEARS, ndpr_share_of_treo=0.2)
    oxide = eq * ndpr_oxide_per_magnet(params, elements, g, YEARS)
    back = oxide * magnet_per_ndpr_oxide(params, elements, g, YEARS)
    np.testing.assert_allclose(back, eq)
    assert (eq > 0).all()


def test_heavy_oxide_per_magnet_matches_the_demand_side(ctx, assumptions):
    from forecast.basis import finished_per_alloy
    from forecast.composition import element_fraction, oxide_gross_t, oxide_per_metal
    from forecast.conversions import element_oxide_per_magnet

    params, elements = ctx
    g = "high_coercivity"
    for el in ("Dy", "Tb", "Nd"):
        factor = oxide_per_metal(
            elements[el], params[f"chem.atomic_weight.{el}"].value, params["chem.atomic_weight.O"].value
        )
        alloy_metal = element_fraction(params, g, el, YEARS) / finished_per_alloy(params, YEARS)
        reduction = np.array([params["refining.oxide_to_metal_yield"].value])
        want = oxide_gross_t(alloy_metal, reduction, factor)
        np.testing.assert_allclose(element_oxide_per_magnet(params, elements, g, el, YEARS), want)
