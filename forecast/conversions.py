"""Conversions between supply-chain products: TREO, NdPr oxide, NdPr metal, alloy, magnet.

Every factor is built from the same parameters the demand side uses (composition, yields,
atomic weights), so that the oxide a tonne of magnet needs converts back to exactly one tonne.
"""

from __future__ import annotations

import numpy as np

from forecast import params as parameters
from forecast.basis import finished_per_alloy
from forecast.composition import element_fraction, oxide_per_metal
from forecast.params import ParamSet
from forecast.schemas import Element

NDPR: tuple[str, str] = ("Nd", "Pr")


def ndpr_fraction(params: ParamSet, grade: str, years: np.ndarray) -> np.ndarray:
    """Nd + Pr mass fraction of a magnet grade [-]."""
    return np.sum([element_fraction(params, grade, el, years) for el in NDPR], axis=0)


def ndpr_oxide_per_metal(params: ParamSet, elements: dict[str, Element], grade: str, years: np.ndarray) -> np.ndarray:
    """t NdPr oxide per t NdPr metal, weighted by the grade's Nd:Pr ratio [-]."""
    o = parameters.scalar(params, "chem.atomic_weight.O")
    fr = {el: element_fraction(params, grade, el, years) for el in NDPR}
    fac = {el: oxide_per_metal(elements[el], parameters.scalar(params, f"chem.atomic_weight.{el}"), o) for el in NDPR}
    return (fr["Nd"] * fac["Nd"] + fr["Pr"] * fac["Pr"]) / (fr["Nd"] + fr["Pr"])


def magnet_per_ndpr_oxide(params: ParamSet, elements: dict[str, Element], grade: str, years: np.ndarray) -> np.ndarray:
    """t finished magnet per t NdPr oxide [-]: reduce (process yield), alloy, sinter (magnet yield)."""
    metal = parameters.value(params, "refining.oxide_to_metal_yield", years) / ndpr_oxide_per_metal(
        params, elements, grade, years
    )
    return metal / ndpr_fraction(params, grade, years) * finished_per_alloy(params, years)


def ndpr_oxide_per_magnet(params: ParamSet, elements: dict[str, Element], grade: str, years: np.ndarray) -> np.ndarray:
    """t NdPr oxide needed per t finished magnet [-]; the inverse of :func:`magnet_per_ndpr_oxide`."""
    return 1.0 / magnet_per_ndpr_oxide(params, elements, grade, years)


def magnet_equivalent_per_unit(
    unit: str,
    params: ParamSet,
    elements: dict[str, Element],
    grade: str,
    years: np.ndarray,
    ndpr_share_of_treo: float | None = None,
) -> np.ndarray:
    """t NdFeB magnet that one t of a supply product can make [-], by year.

    Dy and Tb oxides are additives, not the limiting mass of a magnet, so they convert to 0 here and
    are compared element by element instead.
    """
    ones = np.ones(years.shape)
    if unit == "t_NdFeB_magnet":
        return ones
    if unit == "t_NdFeB_alloy":
        return finished_per_alloy(params, years)
    if unit == "t_NdPr_metal":
        return finished_per_alloy(params, years) / ndpr_fraction(params, grade, years)
    if unit == "t_NdPr_oxide":
        return magnet_per_ndpr_oxide(params, elements, grade, years)
    if unit in ("t_TREO_concentrate", "t_TREO_separated"):
        share = (
            ndpr_share_of_treo
            if ndpr_share_of_treo is not None
            else parameters.scalar(params, "supply.ndpr_share_of_treo.default")
        )
        return share * magnet_per_ndpr_oxide(params, elements, grade, years)
    if unit == "t_magnet_feed":
        return parameters.value(params, "recycling.recovery_yield", years)
    if unit in ("t_Dy_oxide", "t_Tb_oxide"):
        return np.zeros(years.shape)
    raise ValueError(f"unknown supply unit {unit!r}")


def element_oxide_per_magnet(
    params: ParamSet, elements: dict[str, Element], grade: str, element: str, years: np.ndarray
) -> np.ndarray:
    """t of an element's oxide needed per t finished magnet of a grade [-] (Dy, Tb thrifting applied).

    NdPr is :func:`ndpr_oxide_per_magnet`; this gives Dy and Tb (or Nd, Pr alone) on the same basis:
    mass fraction / magnet yield / reduction yield x oxide per metal.
    """
    o = parameters.scalar(params, "chem.atomic_weight.O")
    factor = oxide_per_metal(elements[element], parameters.scalar(params, f"chem.atomic_weight.{element}"), o)
    frac = element_fraction(params, grade, element, years)
    yields = finished_per_alloy(params, years) * parameters.value(params, "refining.oxide_to_metal_yield", years)
    return frac / yields * factor
