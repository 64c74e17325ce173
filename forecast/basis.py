"""Tonnage bases of NdFeB: alloy -> blank -> finished magnet, linked by sourced yields.

- ``alloy``: strip-cast alloy or powder fed to magnet making;
- ``blank``: sintered (and bonded) magnet produced, before machining: what magnet makers and the
  China Rare Earth Industry Association count as output;
- ``finished``: machined magnet in the products sold that year.

Machining loses 20-30% of the alloy as swarf and off-cuts (Binnemans et al. 2013,
doi:10.1016/j.jclepro.2012.12.037); most of it is recycled into oxide. Bonded magnets, moulded to
shape, lose less: the yields are averages over the sintered and bonded mix.
"""

from __future__ import annotations

import numpy as np

from forecast import params as parameters
from forecast.params import ParamSet
from forecast.schemas import BASES

MACHINING_YIELD = "manufacturing.machining_yield"
SINTERING_YIELD = "manufacturing.sintering_yield"
# Share of the alloy lost on the way to finished magnets (swarf, off-cuts) that is recovered to oxide:
# one parameter for the demand side (net primary oxide) and the supply side (the recycled line).
SWARF_RECYCLING = "manufacturing.swarf_recycling_rate"


def to_finished_factor(params: ParamSet, basis: str, years: np.ndarray) -> np.ndarray:
    """Tonnes of finished magnet per tonne on ``basis`` [t/t]."""
    machining = parameters.value(params, MACHINING_YIELD, years)
    if basis == "finished":
        return np.ones_like(machining)
    if basis == "blank":
        return machining
    if basis == "alloy":
        return machining * parameters.value(params, SINTERING_YIELD, years)
    raise ValueError(f"unknown basis {basis!r}; expected one of {list(BASES)}")


def from_finished(finished_t: np.ndarray, params: ParamSet, basis: str, years: np.ndarray) -> np.ndarray:
    """Tonnage on ``basis`` for a finished-magnet tonnage [t/yr]: finished / (t finished per t basis)."""
    return finished_t / to_finished_factor(params, basis, years)


def to_finished(tonnes: np.ndarray, params: ParamSet, basis: str, years: np.ndarray) -> np.ndarray:
    """Finished-magnet tonnage for a tonnage on ``basis`` [t/yr]; inverse of :func:`from_finished`."""
    return tonnes * to_finished_factor(params, basis, years)


def finished_per_alloy(params: ParamSet, years: np.ndarray) -> np.ndarray:
    """Finished magnet per tonne of alloy [t/t]: sintering yield x machining yield."""
    return to_finished_factor(params, "alloy", years)
