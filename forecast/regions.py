"""Demand by region: each segment's world demand split by where its products are sold or installed.

Regions (:data:`forecast.schemas.REGIONS`) add up to the world: a segment's regional shares sum to 1
in every year, and regional demand is world demand x share, so the split never changes a world total.
How a segment is split (history, published shares, or China's manufacturing and exports) is declared
in structure.yaml (``region_splits``); the shares are named parameters (``regions.<split>.*``).
Pure functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from forecast import params as parameters
from forecast.params import ParamSet
from forecast.schemas import CHINA, EX_CHINA_REGIONS, HISTORY_REGIONS, REGIONS, TOTAL, Assumptions, Structure

WORLD = "world"
EX_CHINA = "ex_china"
AGGREGATES: tuple[str, ...] = (WORLD, EX_CHINA)  # the regions the gap compares supply with
PART_COLUMN: dict[str, str] = {"ev_car_sales": "powertrain", "wind_installations": "location"}
REGIONAL_COLUMNS = ["year", "segment", "region", "material", "basis", "unit", "value"]

Shares = dict[str, np.ndarray]  # region -> share of world demand by year [fraction]


def normalise(shares: Mapping[str, np.ndarray]) -> Shares:
    """Shares divided by their sum in each year, so they add up to exactly 1 [fraction]."""
    total = np.sum([np.asarray(v, dtype=float) for v in shares.values()], axis=0)
    return {r: np.asarray(v, dtype=float) / total for r, v in shares.items()}


def anchor_shares(params: ParamSet, split: str, regions: tuple[str, ...], years: np.ndarray) -> Shares:
    """The sourced shares ``regions.<split>.share.<region>`` by year [fraction], smooth between anchors."""
    return {r: parameters.value(params, f"regions.{split}.share.{r}", years) for r in regions}


def manufacturing_shares(params: ParamSet, split: str, years: np.ndarray) -> Shares:
    """End-use shares where only China's manufacturing share is published [fraction].

    China's end use = manufacturing share m x (1 - export share x); the rest, (1 - m) made outside
    China plus m x x made in China and exported, is split among the other regions by their shares.
    """
    m = parameters.value(params, f"regions.{split}.china_manufacturing_share", years)
    x = parameters.value(params, f"regions.{split}.china_export_share", years)
    china = m * (1.0 - x)
    rest = normalise(anchor_shares(params, split, EX_CHINA_REGIONS, years))
    return {CHINA: china, **{r: (1.0 - china) * v for r, v in rest.items()}}


def embedded_export_share(params: ParamSet, split: str, years: np.ndarray) -> np.ndarray:
    """Share of world demand in products made in China and used elsewhere [fraction] (manufacturing splits)."""
    m = parameters.value(params, f"regions.{split}.china_manufacturing_share", years)
    return m * parameters.value(params, f"regions.{split}.china_export_share", years)


def observed_region_values(history: pd.DataFrame, part_column: str, part: str) -> dict[str, dict[int, float]]:
    """A series by region label and year [unit of the series]: one part, or every part summed (``total``).

    Rows without a region are left out and a missing value adds nothing; values add in row order.
    """
    rows = history if part == TOTAL else history[history[part_column] == part]
    out: dict[str, dict[int, float]] = {}
    # a few hundred rows: a loop over them costs less than a group-by's set-up
    for region, year, v in zip(rows["region"].tolist(), rows["year"].tolist(), rows["value"].tolist(), strict=True):
        if pd.isna(region):
            continue
        by_year = out.setdefault(str(region), {})
        by_year[int(year)] = by_year.get(int(year), 0.0) + (0.0 if pd.isna(v) else float(v))
    return out


def history_shares(
    params: ParamSet, split: str, history: pd.DataFrame, part_column: str, part: str, years: np.ndarray
) -> Shares:
    """Shares from a published series by region, then a straight line to the sourced anchors [fraction].

    In a year the series covers, each region it names has its share of the world value; regions it
    does not name (the rest of the world always, Europe and the United States where only China is
    published) share the remainder in proportion to their anchors. Before the first observed year the
    first observed shares hold; after the last, each share runs linearly to the anchors after it and
    holds after the last anchor.
    """
    values = observed_region_values(history, part_column, part)
    world = {y: v for y, v in values.get("World", {}).items() if v > 0}
    anchors = anchor_shares(params, split, REGIONS, years)
    if not world:
        return normalise(anchors)
    observed_years = sorted(world)
    at = np.array(observed_years)
    anchors_at = anchor_shares(params, split, REGIONS, at)
    observed: dict[str, np.ndarray] = {r: np.full(len(at), np.nan) for r in REGIONS}
    for label, region in HISTORY_REGIONS.items():
        series = values.get(label, {})
        observed[region] = np.array([series.get(y, np.nan) / world[y] for y in observed_years])
    named = np.nansum([observed[r] for r in REGIONS], axis=0)
    remainder = np.clip(1.0 - named, 0.0, None)
    missing = {r: np.where(np.isnan(observed[r]), anchors_at[r], 0.0) for r in REGIONS}
    weight = np.sum(list(missing.values()), axis=0)
    filled = {
        r: np.where(
            np.isnan(observed[r]),
            remainder * np.divide(missing[r], weight, out=np.zeros_like(weight), where=weight > 0),
            observed[r],
        )
        for r in REGIONS
    }
    filled = normalise(filled)
    first, last = observed_years[0], observed_years[-1]
    out: Shares = {}
    for r in REGIONS:
        traj = params[f"regions.{split}.share.{r}"].trajectory
        later = {y: v for y, v in (traj or {}).items() if y > last}
        if traj is None:  # a constant: the target from the year after the last observation
            later = {last + 1: float(anchors[r][0])}
        points = {last: float(filled[r][-1]), **later}
        xs = np.array(sorted(points), dtype=float)
        projected = np.interp(years.astype(float), xs, [points[int(x)] for x in xs])
        hist = np.interp(years.astype(float), at.astype(float), filled[r])  # flat before the first year
        out[r] = np.where(years <= last, np.where(years < first, filled[r][0], hist), projected)
    return normalise(out)


def segment_shares(a: Assumptions, params: ParamSet, years: np.ndarray) -> dict[str, Shares]:
    """Regional shares of every segment's world demand by year [fraction]; they sum to 1 per segment and year."""
    structure: Structure = a.structure
    histories = a.histories()
    out: dict[str, Shares] = {}
    from_history: dict[tuple[str, str], Shares] = {}  # segments on one split and part share one computation
    for name, seg in structure.segments.items():
        split_name = str(seg.region_split)
        split = structure.region_splits[split_name]
        if split.method == "manufacturing":
            out[name] = normalise(manufacturing_shares(params, split_name, years))
        elif split.method == "shares":
            out[name] = normalise(anchor_shares(params, split_name, REGIONS, years))
        else:
            series, part = str(split.series), str(seg.region_part or TOTAL)
            if (split_name, part) not in from_history:
                from_history[(split_name, part)] = history_shares(
                    params, split_name, histories[series], PART_COLUMN[series], part, years
                )
            out[name] = from_history[(split_name, part)]
    return out


def regional_demand_t(demand: pd.DataFrame, shares: Mapping[str, Shares], years: np.ndarray) -> pd.DataFrame:
    """Demand by region: every row of the world table x its segment's regional share (tidy, long).

    demand: year, segment, material, basis, unit, value [and scenario] (world, by segment); shares as
    from :func:`segment_shares` over ``years``. Returns the same columns plus ``region``, one row per
    world row and region; the regions of a row add up to it.
    """
    index = {int(y): i for i, y in enumerate(years)}
    pos = demand["year"].map(index).to_numpy()
    if np.isnan(pos.astype(float)).any():
        raise ValueError("demand has years the regional shares do not cover")
    pos = pos.astype(int)
    codes, names = pd.factorize(demand["segment"])
    value = demand["value"].to_numpy()
    frames = []
    for region in REGIONS:
        by_segment = np.stack([shares[str(seg)][region] for seg in names]) if len(names) else np.empty((0, len(years)))
        frames.append(demand.assign(region=region, value=value * by_segment[codes, pos]))
    out = pd.concat(frames, ignore_index=True)
    cols = [c for c in ("year", "scenario") if c in out.columns]
    return out[[*cols, *[c for c in REGIONAL_COLUMNS if c not in cols]]]


def regional_demand_for_params(
    a: Assumptions, params: ParamSet, demand: pd.DataFrame, years: np.ndarray | None = None
) -> pd.DataFrame:
    """:func:`regional_demand_t` with the shares of ``params`` over the years of ``demand``."""
    ys = np.array(sorted({int(y) for y in demand["year"]})) if years is None else years
    return regional_demand_t(demand, segment_shares(a, params, ys), ys)
