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
from forecast.tables import repeated_labels, year_positions

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

    ``years``: increasing and distinct. Rows are summed in table order (a pandas group sum, which
    compensates, can differ in the last digit).

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
    pos, counted = year_positions(years, d["year"].to_numpy())  # rows of other years are left out
    value = d["value"].to_numpy(dtype=float)
    value = np.where(np.isnan(value), 0.0, value)  # a missing value adds nothing
    in_region = {region: d["region"].isin(list(names)).to_numpy(dtype=bool) for region, names in members.items()}
    frames = []
    for material, mask in series.items():
        of_material = mask.to_numpy(dtype=bool) & counted
        for region in GAP_REGIONS:
            rows = of_material & in_region[region]
            v = np.bincount(pos[rows], weights=value[rows], minlength=len(years))
            frames.append(
                pd.DataFrame({"year": np.asarray(years), "region": region, "material": material, "demand_t": v})
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


def capacity_arrays(capacity: pd.DataFrame, years: np.ndarray) -> dict[tuple[str, str, str, str], np.ndarray]:
    """A :func:`forecast.supply.stage_capacity` table as arrays over ``years`` (increasing and distinct)
    keyed by (chain, material, stage, weighting) [t/yr]; a year the table lacks is NaN."""
    columns = [capacity[c].tolist() for c in ("chain", "material", "stage", "weighting")]
    pos, inside = year_positions(years, capacity["year"].to_numpy())
    out: dict[tuple[str, str, str, str], np.ndarray] = {}
    seen: set[tuple[tuple[str, str, str, str], int]] = set()
    # a few thousand rows: one pass costs less than indexing the table once per key
    for key, p, ok, v in zip(zip(*columns, strict=True), pos, inside, capacity["value"].tolist(), strict=True):
        series = out.get(key)
        if series is None:
            series = out[key] = np.full(len(years), np.nan)
        if ok:
            if (key, p) in seen:
                raise ValueError(f"capacity has more than one row for {', '.join(key)}, {years[p]}")
            seen.add((key, p))
            series[p] = v
    return out


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
    """Demand against supply outside China for both chains: by stage, material and region (tidy), rows
    ordered by year, chain, region, material and stage (in chain order).

    demand: :data:`DEMAND_COLUMNS` (from :func:`demand_by_material`); eol_t: end-of-life recyclable
    magnet-equivalent outside China per year [t/yr] (from :func:`eol_recyclable_t`); capacity: the
    chains' :func:`forecast.supply.stage_capacity` over ``years`` when the caller has it.
    """
    magnet_yield = finished_per_alloy(params, years)
    scrap_rate = parameters.value(params, SWARF_RECYCLING, years)
    cap = capacity_arrays(stage_capacity(a, params, years) if capacity is None else capacity, years)
    ox_per_magnet = ndpr_oxide_per_magnet(params, a.structure.elements, a.structure.supply_grade, years)
    demand_of = _demand_arrays(demand, years)
    # a year without ex-China magnet demand produces nothing for it (the chain still has its capacity)
    demand_ex = demand_of.get((EX_CHINA, "NdFeB"), np.zeros(years.shape))
    demand_ex = np.where(np.isnan(demand_ex), 0.0, demand_ex)

    supply: dict[tuple[str, str, str], dict[str, np.ndarray]] = {}  # (chain, stage, material) -> weighting -> t/yr
    binding: dict[str, dict[str, np.ndarray]] = {}
    for chain in CHAINS:
        for w in WEIGHTINGS:
            ndfeb = {s: cap[(chain, "NdFeB", s, w)] for s in (*CHAIN, "recycling")}
            produced = np.minimum(ndfeb["magnet"], demand_ex)  # blanks, as magnet plants count them
            finished = to_finished(produced, params, "blank", years)
            available = eol_t + recycling.scrap_recycled_t(finished, magnet_yield, scrap_rate)
            recycled = np.minimum(available, ndfeb["recycling"])
            chain_in = {**ndfeb, "mine": ndfeb["mine"] + recycled}
            out, bind = chain_output(chain_in)
            nxt, nxt_t = next_tightest(chain_in)
            if w == "risked":
                binding[chain] = {
                    "binding_stage": bind,
                    "binding_stage_t": out,
                    "next_stage": nxt,
                    "next_stage_t": nxt_t,
                }
            for s in GAP_STAGES:
                v = {"recycling": recycled, "chain": out}.get(s, ndfeb[s] if s in ndfeb else np.zeros(years.shape))
                for material, factor in (("NdFeB", 1.0), ("NdPr", ox_per_magnet)):
                    supply.setdefault((chain, s, material), {})[w] = v * factor
            for el in ("Dy", "Tb"):
                sep = cap[(chain, el, "separation", w)]
                for s in ("separation", "chain"):
                    supply.setdefault((chain, s, el), {})[w] = sep
    out_df = _gap_rows(years, supply, demand_of, binding)
    if quantiles:
        q = supply_quantile_table(a, params, years).rename(columns={"p10": "supply_p10_t", "p90": "supply_p90_t"})
        out_df = out_df.merge(q.drop(columns="p50"), on=["year", "chain", "stage", "material"], how="left")
    else:
        out_df["supply_p10_t"] = np.nan
        out_df["supply_p90_t"] = np.nan
    out_df["scenario"] = repeated_labels([scenario], len(out_df))
    return out_df[GAP_COLUMNS]


def _demand_arrays(demand: pd.DataFrame, years: np.ndarray) -> dict[tuple[str, str], np.ndarray]:
    """Demand by (region, material) over ``years`` [t/yr] from a :data:`DEMAND_COLUMNS` table; NaN where a
    year has no row."""
    twice = demand.duplicated(["year", "region", "material"])
    if twice.any():
        row = demand[twice].iloc[0]
        raise ValueError(f"demand has more than one row for {row['region']}, {row['material']}, {row['year']}")
    out: dict[tuple[str, str], np.ndarray] = {}
    for (region, material), rows in demand.groupby(["region", "material"], sort=True):
        out[(str(region), str(material))] = rows.set_index("year")["demand_t"].reindex(years).to_numpy(dtype=float)
    return out


def _gap_rows(
    years: np.ndarray,
    supply: dict[tuple[str, str, str], dict[str, np.ndarray]],
    demand_of: dict[tuple[str, str], np.ndarray],
    binding: dict[str, dict[str, np.ndarray]],
) -> pd.DataFrame:
    """The gap's rows, year by year, then by chain, region, material and stage (in chain order)."""
    order = {s: i for i, s in enumerate(GAP_STAGES)}
    regions_of: dict[str, list[str]] = {}
    for region, material in sorted(demand_of):
        regions_of.setdefault(material, []).append(region)
    combos = sorted(
        (
            (chain, region, material, stage)
            for (chain, stage, material) in supply
            for region in regions_of.get(material, [])
        ),
        key=lambda k: (k[0], k[1], k[2], order[k[3]]),
    )
    if not combos:
        raise ValueError("the gap has no rows: the demand table names none of the supplied materials")

    nameplate = _year_major([supply[(c, s, m)]["nameplate"] for c, _, m, s in combos])
    risked = _year_major([supply[(c, s, m)]["risked"] for c, _, m, s in combos])
    demand_t = _year_major([demand_of[(r, m)] for _, r, m, _ in combos])
    frame: dict[str, object] = {"year": np.repeat(years, len(combos))}
    for i, name in enumerate(("chain", "region", "material", "stage")):
        labels = pd.array([k[i] for k in combos], dtype="str")
        frame[name] = labels.take(np.tile(np.arange(len(combos)), len(years)))
    frame |= {"demand_t": demand_t, "supply_nameplate_t": nameplate, "supply_risked_t": risked}
    frame |= {"gap_t": demand_t - risked, "gap_nameplate_t": demand_t - nameplate}
    with np.errstate(divide="ignore", invalid="ignore"):
        positive = demand_t > 0
        frame["coverage"] = np.where(positive, risked / demand_t, np.nan)
        frame["coverage_nameplate"] = np.where(positive, nameplate / demand_t, np.nan)
    for name in ("binding_stage", "binding_stage_t", "next_stage", "next_stage_t"):
        frame[name] = _year_major([binding[c][name] for c, _, _, _ in combos])
    return pd.DataFrame(frame)


def _year_major(values: list[np.ndarray]) -> np.ndarray:
    """One array per key over the years -> one column, year by year and key by key within a year."""
    return np.stack(values).T.reshape(-1)
