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


SUPPLY_QUANTILES: tuple[float, ...] = (0.10, 0.50, 0.90)
SUPPLY_QUANTILE_COLUMNS: tuple[str, ...] = ("p10", "p50", "p90")
SUPPLY_PATHS = 2000


def supply_paths(
    a: Assumptions, params: ParamSet, years: np.ndarray, n_paths: int = SUPPLY_PATHS, seed: int = 0
) -> dict[tuple[str, str], np.ndarray]:
    """Monte Carlo capacity by (stage, material) [t/yr], shape (paths, years).

    Per project and path: it comes online with its status's probability (one Bernoulli draw), and its
    start slips by an exponential delay with the status's mean delay (one draw), independent across
    projects and constant over years. Feeder plants are skipped; integrated projects count at the mine.
    """
    rng = np.random.default_rng(seed)
    grade = a.structure.supply_grade
    ox_per_magnet = ndpr_oxide_per_magnet(params, a.structure.elements, grade, years)[None, :]
    out: dict[tuple[str, str], np.ndarray] = {}

    def add(key: tuple[str, str], value: np.ndarray) -> None:
        out[key] = out[key] + value if key in out else value

    for p in a.projects:
        if p.feeds is not None or p.capacity is None:
            continue
        prob, mean_delay = risk(params, p.status)
        online = rng.random(n_paths) < prob
        delay = rng.exponential(mean_delay, n_paths) if mean_delay > 0 else np.zeros(n_paths)
        r = np.clip((years[None, :] - (p.first_year + delay[:, None]) + 1.0) / p.years_to_full, 0.0, 1.0)
        native = online[:, None] * p.capacity * r
        if p.unit in HEAVY_UNITS:
            add((p.stage, HEAVY_UNITS[p.unit]), native)
            continue
        factor = magnet_equivalent_per_unit(p.unit, params, a.structure.elements, grade, years, p.ndpr_share_of_treo)
        eq = native * factor[None, :]
        stages = [p.stage, "mine"] if (p.own_feed and p.stage == "separation") else [p.stage]
        for st in stages:
            add((st, "NdFeB"), eq)
            add((st, "NdPr"), eq * ox_per_magnet)
    return out


def supply_quantile_table(
    a: Assumptions, params: ParamSet, years: np.ndarray, n_paths: int = SUPPLY_PATHS, seed: int = 0
) -> pd.DataFrame:
    """P10, P50, P90 of risk-weighted capacity: year, stage, material, p10, p50, p90 [t/yr]."""
    paths = supply_paths(a, params, years, n_paths, seed)
    frames = []
    for (stage, material), arr in paths.items():
        q = np.quantile(arr, SUPPLY_QUANTILES, axis=0)
        frames.append(
            pd.DataFrame(
                {
                    "year": years,
                    "stage": stage,
                    "material": material,
                    **{c: q[i] for i, c in enumerate(SUPPLY_QUANTILE_COLUMNS)},
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
