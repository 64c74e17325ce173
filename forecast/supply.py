"""Non-Chinese supply by stage, nameplate and risk-weighted, in magnet-equivalent and per element.

Stages: mine -> separation -> metal_alloy -> magnet, plus recycling. A project's capacity ramps
linearly from its first production year to nameplate over ``years_to_full``; the risk-weighted
view multiplies by the probability of its status and delays the start by the expected slip.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast import params as P
from forecast.conversions import magnet_equivalent_per_unit, ndpr_oxide_per_magnet
from forecast.params import ParamSet
from forecast.schemas import Assumptions, SupplyProject

CHAIN: tuple[str, ...] = ("mine", "separation", "metal_alloy", "magnet")
WEIGHTINGS: tuple[str, ...] = ("nameplate", "risked")
SUPPLY_MATERIALS: tuple[str, ...] = ("NdFeB", "NdPr", "Dy", "Tb")
HEAVY_UNITS: dict[str, str] = {"t_Dy_oxide": "Dy", "t_Tb_oxide": "Tb"}


def ramp(years: np.ndarray, first_year: float, years_to_full: float) -> np.ndarray:
    """Share of nameplate reached each year [-]: linear from first_year to first_year + years_to_full - 1."""
    return np.clip((years - first_year + 1.0) / years_to_full, 0.0, 1.0)


def capacity_native(
    project: SupplyProject, years: np.ndarray, probability: float = 1.0, delay_years: float = 0.0
) -> np.ndarray:
    """Capacity of one project in its own unit [t/yr]; undisclosed capacity counts as 0."""
    if project.capacity is None:
        return np.zeros(years.shape)
    return probability * project.capacity * ramp(years, project.first_year + delay_years, project.years_to_full)


def risk(params: ParamSet, status: str) -> tuple[float, float]:
    """(probability of coming online [-], expected delay [years]) of a project status."""
    return (
        P.scalar(params, f"supply.status.{status}.probability"),
        P.scalar(params, f"supply.status.{status}.delay_years"),
    )


def project_supply(a: Assumptions, params: ParamSet, years: np.ndarray) -> pd.DataFrame:
    """Per project and year: native capacity and magnet-equivalent, nameplate and risked (tidy).

    Columns: year, id, stage, unit, weighting, native_t, magnet_eq_t, counted (False for plants that
    feed another plant at the same stage, which would otherwise be counted twice).
    """
    grade = a.structure.supply_grade
    frames = []
    for p in a.projects:
        factor = magnet_equivalent_per_unit(p.unit, params, a.structure.elements, grade, years, p.ndpr_share_of_treo)
        prob, delay = risk(params, p.status)
        for weighting, (pr, dl) in (("nameplate", (1.0, 0.0)), ("risked", (prob, delay))):
            native = capacity_native(p, years, pr, dl)
            frames.append(
                pd.DataFrame(
                    {
                        "year": years,
                        "id": p.id,
                        "stage": p.stage,
                        "unit": p.unit,
                        "weighting": weighting,
                        "native_t": native,
                        "magnet_eq_t": native * factor,
                        "counted": p.feeds is None,
                        "own_feed": p.own_feed,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def stage_capacity(a: Assumptions, params: ParamSet, years: np.ndarray) -> pd.DataFrame:
    """Capacity by year, stage, weighting and material [t/yr].

    NdFeB: magnet-equivalent; NdPr: NdPr oxide equivalent; Dy, Tb: oxide (separation stage).
    Integrated projects (own_feed) also count at the mine stage.
    """
    per = project_supply(a, params, years)
    per = per[per["counted"]]
    own = per[per["own_feed"] & (per["stage"] == "separation")].assign(stage="mine")
    per = pd.concat([per, own], ignore_index=True)
    grade = a.structure.supply_grade
    ox_per_magnet = ndpr_oxide_per_magnet(params, a.structure.elements, grade, years)
    rows = []
    full = pd.MultiIndex.from_product([years, (*CHAIN, "recycling"), WEIGHTINGS], names=["year", "stage", "weighting"])
    ndfeb = per.groupby(["year", "stage", "weighting"])["magnet_eq_t"].sum().reindex(full, fill_value=0.0)
    df = ndfeb.rename("value").reset_index()
    rows.append(df.assign(material="NdFeB"))
    ndpr = df.copy()
    ndpr["value"] = ndpr["value"] * np.interp(ndpr["year"], years, ox_per_magnet)
    rows.append(ndpr.assign(material="NdPr"))
    for unit, el in HEAVY_UNITS.items():
        h = (
            per[per["unit"] == unit]
            .groupby(["year", "stage", "weighting"])["native_t"]
            .sum()
            .reindex(full, fill_value=0.0)
        )
        rows.append(h.rename("value").reset_index().assign(material=el))
    out = pd.concat(rows, ignore_index=True)
    return out[["year", "stage", "weighting", "material", "value"]]
