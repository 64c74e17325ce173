"""Demand against non-Chinese supply: gap, coverage and the binding stage of the chain."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from forecast import params as P
from forecast import recycling as R
from forecast.basis import finished_per_alloy
from forecast.conversions import ndpr_oxide_per_magnet
from forecast.model import demand_for_params
from forecast.params import ParamSet
from forecast.scenarios import resolve_parameters
from forecast.schemas import Assumptions, Parameter
from forecast.supply import CHAIN, WEIGHTINGS, stage_capacity, supply_quantile_table

REGIONS: tuple[str, ...] = ("world", "ex_china")
GAP_STAGES: tuple[str, ...] = (*CHAIN, "recycling", "chain")
GAP_COLUMNS = [
    "year",
    "scenario",
    "region",
    "stage",
    "material",
    "demand_t",
    "supply_nameplate_t",
    "supply_risked_t",
    "gap_t",
    "gap_nameplate_t",
    "coverage",
    "coverage_nameplate",
    "binding_stage",
    "supply_p10_t",
    "supply_p90_t",
]


def demand_by_material(demand: pd.DataFrame, ex_china_share: np.ndarray, years: np.ndarray) -> pd.DataFrame:
    """Demand by year, region and material [t/yr]: NdFeB magnet, NdPr / Dy / Tb oxide needed."""
    d = demand
    series = {
        "NdFeB": d[(d["material"] == "NdFeB") & (d["unit"] == "t_magnet") & (d["basis"] == "finished")],
        "NdPr": d[d["material"].isin(["Nd", "Pr"]) & (d["unit"] == "t_oxide")],
        "Dy": d[(d["material"] == "Dy") & (d["unit"] == "t_oxide")],
        "Tb": d[(d["material"] == "Tb") & (d["unit"] == "t_oxide")],
    }
    frames = []
    for material, rows in series.items():
        world = rows.groupby("year")["value"].sum().reindex(years, fill_value=0.0).to_numpy()
        for region, v in (("world", world), ("ex_china", world * ex_china_share)):
            frames.append(pd.DataFrame({"year": years, "region": region, "material": material, "demand_t": v}))
    return pd.concat(frames, ignore_index=True)


def eol_recyclable_t(a: Assumptions, params: ParamSet, demand: pd.DataFrame, years: np.ndarray) -> np.ndarray:
    """Magnet-equivalent recoverable from end-of-life products outside China [t/yr].

    demand: the tidy demand table covering horizon.stock_first_year to years.max(). Magnets sold (the
    ex-China share of world demand) leave use after a normal lifetime per segment, then x collection
    rate x recovery yield.
    """
    first = a.model.horizon.stock_first_year
    all_years = np.arange(first, years.max() + 1)
    mag = demand[
        (demand["material"] == "NdFeB")
        & (demand["unit"] == "t_magnet")
        & (demand["basis"] == "finished")
        & (demand["year"] >= first)
    ]
    share = P.value(params, "demand.ex_china_share", all_years)
    eol = np.zeros(all_years.shape)
    for seg, grp in mag.groupby("segment"):
        inflow = grp.set_index("year")["value"].reindex(all_years, fill_value=0.0).to_numpy() * share
        eol += R.eol_outflow(
            inflow,
            P.scalar(params, f"lifetime.{seg}.mean_years"),
            P.scalar(params, f"lifetime.{seg}.sd_years"),
        )
    return R.recycled_t(
        eol[years - first],
        P.value(params, "recycling.eol_collection_rate", years),
        P.value(params, "recycling.recovery_yield", years),
    )


def chain_output(stages: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Magnet output the chain can deliver [t/yr] and the binding stage per year.

    stages: magnet-equivalent capacity per chain stage (secondary supply already added to 'mine',
    since recycled material replaces mined feed). Output is limited by the tightest stage; no feed
    from China enters at any stage.
    """
    stacked = np.vstack([stages[s] for s in CHAIN])
    return stacked.min(axis=0), np.array(CHAIN)[stacked.argmin(axis=0)]


def gap_table(
    a: Assumptions,
    scenario: str,
    calibrated: Mapping[str, Parameter] | None = None,
    years: np.ndarray | None = None,
) -> pd.DataFrame:
    """Demand, non-Chinese supply (nameplate and risked), gap and coverage by stage and material."""
    return gap_for_params(a, resolve_parameters(a, scenario, calibrated), scenario, years)


def gap_for_params(a: Assumptions, params: ParamSet, scenario: str, years: np.ndarray | None = None) -> pd.DataFrame:
    """:func:`gap_table` for an explicit parameter set (what-if requests); scenario is the label."""
    if years is None:
        years = np.arange(a.model.horizon.first_year, a.model.horizon.last_year + 1)
    # one demand run covers both the stock model's history and the gap years
    all_demand = demand_for_params(
        a, params, np.arange(min(a.model.horizon.stock_first_year, years.min()), years.max() + 1)
    )
    demand = demand_by_material(
        all_demand[all_demand["year"].isin(years)], P.value(params, "demand.ex_china_share", years), years
    )
    eol = eol_recyclable_t(a, params, all_demand, years)
    magnet_yield = finished_per_alloy(params, years)
    scrap_rate = P.value(params, "recycling.scrap_recovery_rate", years)
    cap = stage_capacity(a, params, years)
    idx = cap.set_index(["material", "stage", "weighting", "year"])["value"].sort_index()
    ox_per_magnet = ndpr_oxide_per_magnet(params, a.structure.elements, a.structure.supply_grade, years)

    supply_rows = []
    binding: dict[str, np.ndarray] = {}
    for w in WEIGHTINGS:
        ndfeb = {s: idx.loc[("NdFeB", s, w)].reindex(years).to_numpy() for s in (*CHAIN, "recycling")}
        demand_ex = demand[(demand["region"] == "ex_china") & (demand["material"] == "NdFeB")]["demand_t"].to_numpy()
        produced = np.minimum(ndfeb["magnet"], demand_ex)
        available = eol + R.scrap_recycled_t(produced, magnet_yield, scrap_rate)
        recycled = np.minimum(available, ndfeb["recycling"])
        chain_in = {**ndfeb, "mine": ndfeb["mine"] + recycled}
        out, bind = chain_output(chain_in)
        binding[w] = bind
        for s in (*CHAIN, "recycling", "chain"):
            v = {"recycling": recycled, "chain": out}.get(s, ndfeb.get(s))
            supply_rows.append(
                pd.DataFrame({"year": years, "stage": s, "weighting": w, "material": "NdFeB", "value": v})
            )
            supply_rows.append(
                pd.DataFrame(
                    {"year": years, "stage": s, "weighting": w, "material": "NdPr", "value": v * ox_per_magnet}
                )
            )
        for el in ("Dy", "Tb"):
            sep = idx.loc[(el, "separation", w)].reindex(years).to_numpy()
            for s in ("separation", "chain"):
                supply_rows.append(
                    pd.DataFrame({"year": years, "stage": s, "weighting": w, "material": el, "value": sep})
                )
    supply = pd.concat(supply_rows, ignore_index=True)
    wide = supply.pivot_table(index=["year", "stage", "material"], columns="weighting", values="value").reset_index()
    wide = wide.rename(columns={"nameplate": "supply_nameplate_t", "risked": "supply_risked_t"})
    out = wide.merge(demand, on=["year", "material"], how="left")
    out["gap_t"] = out["demand_t"] - out["supply_risked_t"]
    out["gap_nameplate_t"] = out["demand_t"] - out["supply_nameplate_t"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["coverage"] = np.where(out["demand_t"] > 0, out["supply_risked_t"] / out["demand_t"], np.nan)
        out["coverage_nameplate"] = np.where(out["demand_t"] > 0, out["supply_nameplate_t"] / out["demand_t"], np.nan)
    out["binding_stage"] = pd.Series(binding["risked"], index=years).reindex(out["year"]).to_numpy()
    q = supply_quantile_table(a, params, years).rename(columns={"p10": "supply_p10_t", "p90": "supply_p90_t"})
    out = out.merge(q.drop(columns="p50"), on=["year", "stage", "material"], how="left")
    out["scenario"] = scenario
    order = {s: i for i, s in enumerate(GAP_STAGES)}
    out = out.sort_values(
        ["year", "region", "material", "stage"], key=lambda c: c.map(order) if c.name == "stage" else c
    )
    return out[GAP_COLUMNS].reset_index(drop=True)
