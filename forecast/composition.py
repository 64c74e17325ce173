"""From magnet tonnes to Nd, Pr, Dy, Tb: contained metal and the oxide needed upstream.

Units: ``t_metal`` = element contained in the magnet tonnage of a basis; ``t_oxide_gross`` = oxide
that the alloy needs (alloy element / oxide-to-metal yield x oxide per metal); ``t_oxide`` = primary
oxide needed, net of the swarf recycled back to oxide (alloy minus finished magnet, times
``manufacturing.swarf_recycling_rate``). Net never exceeds gross.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from forecast import params as parameters
from forecast.basis import SWARF_RECYCLING, from_finished
from forecast.params import ParamSet
from forecast.schemas import BASES, ELEMENTS, Element, Segment

HEAVY_RARE_EARTHS: frozenset[str] = frozenset({"Dy", "Tb"})
LIGHT_RARE_EARTHS: frozenset[str] = frozenset({"Nd", "Pr"})  # the didymium that cerium can replace
OXIDE_BASIS = "oxide"  # the basis label of oxide rows: the same whatever magnet basis is reported


def oxide_per_metal(element: Element, metal_g_per_mol: float, oxygen_g_per_mol: float) -> float:
    """Mass of oxide per mass of metal [t oxide / t metal], e.g. Nd2O3: 1.166 (IUPAC weights)."""
    metal = element.metal_atoms * metal_g_per_mol
    return (metal + element.oxygen_atoms * oxygen_g_per_mol) / metal


def metal_per_oxide(element: Element, metal_g_per_mol: float, oxygen_g_per_mol: float) -> float:
    """Mass of metal per mass of oxide [t metal / t oxide]; inverse of :func:`oxide_per_metal`."""
    return 1.0 / oxide_per_metal(element, metal_g_per_mol, oxygen_g_per_mol)


def ce_substitution_name(grade: str) -> str:
    """Parameter name of a grade's cerium substitution (optional: a grade without one uses none)."""
    return f"composition.{grade}.ce_substitution"


def element_fraction(params: ParamSet, grade: str, element: str, years: np.ndarray) -> np.ndarray:
    """Mass fraction of an element in a magnet grade by year [-], heavy-RE thrifting and cerium substitution applied.

    Nd and Pr are the grade's didymium less the share that cerium (and lanthanum) replaces in
    cerium-bearing magnets (``composition.<grade>.ce_substitution``, averaged over the grade's output);
    Dy and Tb carry ``composition.heavy_re_factor``.
    """
    frac = parameters.value(params, f"composition.{grade}.{element}", years)
    if element in HEAVY_RARE_EARTHS:
        frac = frac * parameters.value(params, "composition.heavy_re_factor", years)
    elif element in LIGHT_RARE_EARTHS and ce_substitution_name(grade) in params:
        frac = frac * (1.0 - parameters.value(params, ce_substitution_name(grade), years))
    return frac


def oxide_gross_t(alloy_metal_t: np.ndarray, reduction_yield: np.ndarray, oxide_factor: float) -> np.ndarray:
    """Oxide needed for the metal in the alloy [t oxide/yr] = metal / reduction yield x oxide per metal."""
    return alloy_metal_t / reduction_yield * oxide_factor


def oxide_net_t(
    gross_t: np.ndarray, alloy_metal_t: np.ndarray, finished_metal_t: np.ndarray, swarf_recycling: np.ndarray
) -> np.ndarray:
    """Primary oxide needed [t oxide/yr]: gross less the share of the swarf's metal recycled to oxide."""
    recycled_share = (
        swarf_recycling * (alloy_metal_t - finished_metal_t) / np.where(alloy_metal_t > 0, alloy_metal_t, 1.0)
    )
    return gross_t * (1.0 - recycled_share)


def element_t(
    magnet_t: dict[str, np.ndarray],
    segments: dict[str, Segment],
    elements: dict[str, Element],
    params: ParamSet,
    years: np.ndarray,
    keep: Callable[[tuple[str, str, str, str]], bool] | None = None,
) -> dict[tuple[str, str, str, str], np.ndarray]:
    """Element demand by (segment, element, basis, unit) [t/yr] for finished-magnet tonnages by segment.

    ``t_metal`` rows for every magnet basis; ``t_oxide`` and ``t_oxide_gross`` rows with basis ``oxide``.
    ``keep`` computes only some keys (all by default); a kept oxide row needs the alloy and finished
    metal, which are computed for it whether or not they are kept.
    """
    wanted = keep or (lambda _key: True)
    reduction_yield = parameters.value(params, "refining.oxide_to_metal_yield", years)
    swarf = parameters.value(params, SWARF_RECYCLING, years)
    o_weight = parameters.scalar(params, "chem.atomic_weight.O")
    factors = {
        el: oxide_per_metal(elements[el], parameters.scalar(params, f"chem.atomic_weight.{el}"), o_weight)
        for el in ELEMENTS
    }
    fractions = {
        (grade, el): element_fraction(params, grade, el, years)
        for grade in {s.grade for s in segments.values()}
        for el in ELEMENTS
    }
    per_basis = {b: from_finished(np.ones_like(years, dtype=float), params, b, years) for b in BASES}
    out: dict[tuple[str, str, str, str], np.ndarray] = {}
    for seg_name, finished in magnet_t.items():
        grade = segments[seg_name].grade
        for el in ELEMENTS:
            metal = [b for b in BASES if wanted((seg_name, el, b, "t_metal"))]
            oxide = [u for u in ("t_oxide", "t_oxide_gross") if wanted((seg_name, el, OXIDE_BASIS, u))]
            needed = set(metal) | ({"alloy", "finished"} if oxide else set())
            contained = {b: finished * per_basis[b] * fractions[(grade, el)] for b in BASES if b in needed}
            for b in metal:
                out[(seg_name, el, b, "t_metal")] = contained[b]
            if not oxide:
                continue
            gross = oxide_gross_t(contained["alloy"], reduction_yield, factors[el])
            if "t_oxide" in oxide:
                out[(seg_name, el, OXIDE_BASIS, "t_oxide")] = oxide_net_t(
                    gross, contained["alloy"], contained["finished"], swarf
                )
            if "t_oxide_gross" in oxide:
                out[(seg_name, el, OXIDE_BASIS, "t_oxide_gross")] = gross
    return out
