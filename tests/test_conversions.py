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
