"""Demand against supply outside China, per chain: gap, coverage and the binding stage.

Demand comes in as a table (the demand side computes it); this module only compares it with the
supply of :mod:`forecast.supply`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast import params as parameters
from forecast import recycling
from forecast.basis import SWARF_RECYCLING, finished_per_alloy, to_finished
from forecast.conversions import ndpr_oxide_per_magnet
from forecast.params import ParamSet
from forecast.regions import AGGREGATES, EX_CHINA, WORLD
from forecast.schemas import EX_CHINA_REGIONS, REGIONS, Assumptions
from forecast.supply import CHAIN, CHAINS, WEIGHTINGS, stage_capacity, supply_quantile_table
from forecast.tables import long_table

GAP_REGIONS: tuple[str, ...] = AGGREGATES  # the gap compares supply outside China with these
GAP_STAGES: tuple[str, ...] = (*CHAIN, "recycling", "chain")
GAP_MATERIALS: tuple[str, ...] = ("NdFeB", "NdPr", "Dy", "Tb")
DEMAND_COLUMNS = ["year", "region", "material", "demand_t"]
GAP_COLUMNS = [
    "year",
    "scenario",
    "chain",
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
    "binding_stage_t",
    "next_stage",
    "next_stage_t",
    "supply_p10_t",
    "supply_p90_t",
]


SUPPLY_BASIS = "blank"  # magnet plants and China's statistics count magnets produced before machining


def demand_by_material(
    demand: pd.DataFrame,
    years: np.ndarray,
    basis: str = SUPPLY_BASIS,
    oxide_unit: str = "t_oxide_gross",
) -> pd.DataFrame:
    """Demand by year, region (world, ex_china) and material [t/yr] from the demand side's regional table.

    NdFeB is taken on ``basis`` (default blank: the basis on which magnet plants and China's output
    are counted, so supply and demand compare like with like); NdPr, Dy, Tb as gross oxide
    (``oxide_unit``), because the supply side counts recycled swarf as a supply line of its own.
    demand: year, region, segment, material, basis, unit, value, with the regions of
    :data:`forecast.schemas.REGIONS` (:func:`forecast.regions.regional_demand_t`): world demand is
    the sum of every region, ex-China demand the sum of the regions outside China.
    """
    d = demand
    series = {
        "NdFeB": (d["material"] == "NdFeB") & (d["unit"] == "t_magnet") & (d["basis"] == basis),
        "NdPr": d["material"].isin(["Nd", "Pr"]) & (d["unit"] == oxide_unit),
        "Dy": (d["material"] == "Dy") & (d["unit"] == oxide_unit),
        "Tb": (d["material"] == "Tb") & (d["unit"] == oxide_unit),
    }
    members = {WORLD: REGIONS, EX_CHINA: EX_CHINA_REGIONS}
    frames = []
    for material, mask in series.items():
        rows = d[mask]
        for region in GAP_REGIONS:
            v = rows[rows["region"].isin(members[region])].groupby("year")["value"].sum().reindex(years, fill_value=0.0)
            frames.append(
                pd.DataFrame({"year": years, "region": region, "material": material, "demand_t": v.to_numpy()})
            )
    return pd.concat(frames, ignore_index=True)[DEMAND_COLUMNS]


def eol_recyclable_t(
    a: Assumptions, params: ParamSet, demand: pd.DataFrame, years: np.ndarray, region: str = EX_CHINA
) -> np.ndarray:
    """Magnet-equivalent recoverable from end-of-life products [t/yr], outside China or worldwide.

    demand: the demand side's tidy table by segment, covering horizon.stock_first_year to years.max();
    world (no region column) or by region (:func:`forecast.regions.regional_demand_t`), which outside
    China needs. Magnets sold in the region leave use after a normal lifetime per segment, then x
    collection rate x recovery yield.
    """
    first = a.model.horizon.stock_first_year
    all_years = np.arange(first, years.max() + 1)
    mag = demand[
        (demand["material"] == "NdFeB")
        & (demand["unit"] == "t_magnet")
        & (demand["basis"] == "finished")
        & (demand["year"] >= first)
        & (demand["year"] <= years.max())
    ]
    if "region" in mag.columns:
        mag = mag[mag["region"].isin(EX_CHINA_REGIONS if region == EX_CHINA else REGIONS)]
    elif region != WORLD:
        raise ValueError(f"end-of-life magnets {region}: expected demand by region (a region column)")
    eol = np.zeros(all_years.shape)
    segments = mag["segment"].to_numpy()
    rows = np.searchsorted(all_years, mag["year"].to_numpy())
    values = mag["value"].to_numpy(dtype=float)
    for seg in np.unique(segments):
        hit = segments == seg
        inflow = np.bincount(rows[hit], weights=values[hit], minlength=len(all_years))  # summed over regions
        eol += recycling.eol_outflow(
            inflow,
            parameters.scalar(params, f"lifetime.{seg}.mean_years"),
            parameters.scalar(params, f"lifetime.{seg}.sd_years"),
        )
    return recycling.recycled_t(
        eol[years - first],
        parameters.value(params, "recycling.eol_collection_rate", years),
        parameters.value(params, "recycling.recovery_yield", years),
    )


def chain_output(stages: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Magnet output the chain can deliver [t/yr] and the binding stage per year.

    stages: magnet-equivalent capacity per chain stage (secondary supply already added to 'mine',
    since recycled material replaces mined feed). Output is limited by the tightest stage.
    """
    stacked = np.vstack([stages[s] for s in CHAIN])
    return stacked.min(axis=0), np.array(CHAIN)[stacked.argmin(axis=0)]


def next_tightest(stages: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The second-tightest stage and its capacity per year: how much the binding stage holds back."""
    stacked = np.vstack([stages[s] for s in CHAIN])
    order = np.argsort(stacked, axis=0, kind="stable")
    second = order[1]
    return np.array(CHAIN)[second], np.take_along_axis(stacked, second[None, :], axis=0)[0]


def gap_for_params(
    a: Assumptions,
    params: ParamSet,
    scenario: str,
    years: np.ndarray,
    demand: pd.DataFrame,
    eol_t: np.ndarray,
    quantiles: bool = True,
    capacity: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Demand against supply outside China for both chains: by stage, material and region (tidy).

    demand: :data:`DEMAND_COLUMNS` (from :func:`demand_by_material`); eol_t: end-of-life recyclable
    magnet-equivalent outside China per year [t/yr] (from :func:`eol_recyclable_t`); capacity: the
    chains' :func:`forecast.supply.stage_capacity` over ``years`` when the caller has it.
    """
    magnet_yield = finished_per_alloy(params, years)
    scrap_rate = parameters.value(params, SWARF_RECYCLING, years)
    cap = stage_capacity(a, params, years) if capacity is None else capacity
    idx = cap.set_index(["chain", "material", "stage", "weighting", "year"])["value"].sort_index()
    ox_per_magnet = ndpr_oxide_per_magnet(params, a.structure.elements, a.structure.supply_grade, years)
    demand_ex = (
        demand[(demand["region"] == EX_CHINA) & (demand["material"] == "NdFeB")]
        .set_index("year")["demand_t"]
        .reindex(years, fill_value=0.0)
        .to_numpy()
    )

    supply_keys: list[tuple[str, str, str, str]] = []
    supply_values: list[np.ndarray] = []
    binding: dict[str, pd.DataFrame] = {}
    for chain in CHAINS:
        for w in WEIGHTINGS:
            ndfeb = {s: idx.loc[(chain, "NdFeB", s, w)].reindex(years).to_numpy() for s in (*CHAIN, "recycling")}
            produced = np.minimum(ndfeb["magnet"], demand_ex)  # blanks, as magnet plants count them
            finished = to_finished(produced, params, "blank", years)
            available = eol_t + recycling.scrap_recycled_t(finished, magnet_yield, scrap_rate)
            recycled = np.minimum(available, ndfeb["recycling"])
            chain_in = {**ndfeb, "mine": ndfeb["mine"] + recycled}
            out, bind = chain_output(chain_in)
            nxt, nxt_t = next_tightest(chain_in)
            if w == "risked":
                binding[chain] = pd.DataFrame(
                    {
                        "year": years,
                        "binding_stage": bind,
                        "binding_stage_t": out,
                        "next_stage": nxt,
                        "next_stage_t": nxt_t,
                    }
                )
            for s in (*CHAIN, "recycling", "chain"):
                v = {"recycling": recycled, "chain": out}.get(s, ndfeb[s] if s in ndfeb else np.zeros(years.shape))
                for material, factor in (("NdFeB", 1.0), ("NdPr", ox_per_magnet)):
                    supply_keys.append((chain, s, w, material))
                    supply_values.append(v * factor)
            for el in ("Dy", "Tb"):
                sep = idx.loc[(chain, el, "separation", w)].reindex(years).to_numpy()
                for s in ("separation", "chain"):
                    supply_keys.append((chain, s, w, el))
                    supply_values.append(sep)
    supply = long_table(years, ("chain", "stage", "weighting", "material"), supply_keys, supply_values)
    keys = ["year", "chain", "stage", "material"]
    wide = supply.pivot_table(index=keys, columns="weighting", values="value").reset_index()
    wide = wide.rename(columns={"nameplate": "supply_nameplate_t", "risked": "supply_risked_t"})
    out_df = wide.merge(demand, on=["year", "material"], how="left")
    out_df["gap_t"] = out_df["demand_t"] - out_df["supply_risked_t"]
    out_df["gap_nameplate_t"] = out_df["demand_t"] - out_df["supply_nameplate_t"]
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = out_df["demand_t"] > 0
        out_df["coverage"] = np.where(pos, out_df["supply_risked_t"] / out_df["demand_t"], np.nan)
        out_df["coverage_nameplate"] = np.where(pos, out_df["supply_nameplate_t"] / out_df["demand_t"], np.nan)
    bind_df = pd.concat([b.assign(chain=c) for c, b in binding.items()], ignore_index=True)
    out_df = out_df.merge(bind_df, on=["year", "chain"], how="left")
    if quantiles:
        q = supply_quantile_table(a, params, years).rename(columns={"p10": "supply_p10_t", "p90": "supply_p90_t"})
        out_df = out_df.merge(q.drop(columns="p50"), on=keys, how="left")
    else:
        out_df["supply_p10_t"] = np.nan
        out_df["supply_p90_t"] = np.nan
    out_df["scenario"] = scenario
    order = {s: i for i, s in enumerate(GAP_STAGES)}
    out_df = out_df.sort_values(
        ["year", "chain", "region", "material", "stage"], key=lambda c: c.map(order) if c.name == "stage" else c
    )
    return out_df[GAP_COLUMNS].reset_index(drop=True)
