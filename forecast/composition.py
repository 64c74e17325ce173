"""From magnet tonnes to Nd, Pr, Dy, Tb: contained metal and oxide needed upstream."""

from __future__ import annotations

import numpy as np

from forecast import params as P
from forecast.params import ParamSet
from forecast.schemas import ELEMENTS, Element, Segment

HEAVY_RARE_EARTHS: frozenset[str] = frozenset({"Dy", "Tb"})


def oxide_per_metal(element: Element, metal_g_per_mol: float, oxygen_g_per_mol: float) -> float:
    """Mass of oxide per mass of metal [t oxide / t metal], e.g. Nd2O3: 1.166 (IUPAC weights)."""
    metal = element.metal_atoms * metal_g_per_mol
    return (metal + element.oxygen_atoms * oxygen_g_per_mol) / metal


def metal_per_oxide(element: Element, metal_g_per_mol: float, oxygen_g_per_mol: float) -> float:
    """Mass of metal per mass of oxide [t metal / t oxide]; inverse of :func:`oxide_per_metal`."""
    return 1.0 / oxide_per_metal(element, metal_g_per_mol, oxygen_g_per_mol)


def element_fraction(params: ParamSet, grade: str, element: str, years: np.ndarray) -> np.ndarray:
    """Mass fraction of an element in a magnet grade by year [-], heavy-RE thrifting applied."""
    frac = P.value(params, f"composition.{grade}.{element}", years)
    if element in HEAVY_RARE_EARTHS:
        frac = frac * P.value(params, "composition.heavy_re_factor", years)
    return frac


def oxide_needed_t(
    contained_t: np.ndarray, magnet_yield: np.ndarray, reduction_yield: np.ndarray, oxide_factor: float
) -> np.ndarray:
    """Oxide needed upstream for metal contained in finished magnets [t oxide/yr].

    contained_t [t metal in magnets] / magnet_yield [-] (alloy to magnet, scrap lost)
    / reduction_yield [-] (oxide to metal process losses) x oxide_factor [t oxide / t metal].
    """
    return contained_t / magnet_yield / reduction_yield * oxide_factor


def element_t(
    magnet_t: dict[str, np.ndarray],
    segments: dict[str, Segment],
    elements: dict[str, Element],
    params: ParamSet,
    years: np.ndarray,
) -> dict[tuple[str, str, str], np.ndarray]:
    """Element demand by (segment, element, unit) [t/yr]: t_magnet = contained, t_oxide = oxide needed."""
    magnet_yield = P.value(params, "manufacturing.magnet_yield", years)
    reduction_yield = P.value(params, "refining.oxide_to_metal_yield", years)
    o_weight = P.scalar(params, "chem.atomic_weight.O")
    factors = {
        el: oxide_per_metal(elements[el], P.scalar(params, f"chem.atomic_weight.{el}"), o_weight) for el in ELEMENTS
    }
    fractions = {
        (grade, el): element_fraction(params, grade, el, years)
        for grade in {s.grade for s in segments.values()}
        for el in ELEMENTS
    }
    out: dict[tuple[str, str, str], np.ndarray] = {}
    for seg_name, mag in magnet_t.items():
        grade = segments[seg_name].grade
        for el in ELEMENTS:
            contained = mag * fractions[(grade, el)]
            out[(seg_name, el, "t_magnet")] = contained
            out[(seg_name, el, "t_oxide")] = oxide_needed_t(contained, magnet_yield, reduction_yield, factors[el])
    return out
