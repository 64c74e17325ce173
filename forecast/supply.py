"""Supply outside China by stage: nameplate and risked output, per project and per chain.

Stages: mine -> separation -> metal -> alloy -> magnet, plus recycling. ``nameplate`` is capacity as
built (a linear ramp from the first year over ``years_to_full``). ``risked`` is expected output: a
plant's published output where there is one; after it, utilisation moves from the last observed level
to the mature level; without history a plant starts at the first-year utilisation and ramps to the
mature level. Projects not yet built count with the probability of their status or financing stage
(whichever is further along) and start after the expected delay.

Two chains: ``outside_china`` counts every plant located outside China whatever its feed; the part of
a plant's feed bought from China is credited to every stage upstream of it (China supplies that
share). ``china_free`` counts a plant only up to its non-Chinese feed and leaves out Chinese-controlled
plants; so at every stage china_free <= outside_china.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast import params as parameters
from forecast.conversions import magnet_equivalent_per_unit, ndpr_oxide_per_magnet
from forecast.params import ParamSet
from forecast.schemas import CHAIN_STAGES, TREO_UNITS, Assumptions, SupplyProject
from forecast.tables import long_table

CHAIN: tuple[str, ...] = CHAIN_STAGES
CHAINS: tuple[str, ...] = ("outside_china", "china_free")
LOCATED = "located"  # plants outside China at their own stage only, no credit for Chinese feed (world balance)
WEIGHTINGS: tuple[str, ...] = ("nameplate", "risked")
MATERIALS: tuple[str, ...] = ("NdFeB", "NdPr", "Dy", "Tb")
HEAVY_UNITS: dict[str, str] = {"t_Dy_oxide": "Dy", "t_Tb_oxide": "Tb"}
PRE_BUILD: frozenset[str] = frozenset({"financed", "feasibility", "announced"})  # financing can raise these


def ramp(years: np.ndarray, first_year: float | np.ndarray, years_to_full: float) -> np.ndarray:
    """Share of nameplate built each year [-]: linear from first_year to first_year + years_to_full - 1."""
    return np.clip((years - first_year + 1.0) / years_to_full, 0.0, 1.0)


def capacity_native(
    project: SupplyProject, years: np.ndarray, probability: float = 1.0, delay_years: float = 0.0
) -> np.ndarray:
    """Nameplate of one project in its own unit [t/yr]; undisclosed capacity counts as 0."""
    if project.capacity is None:
        return np.zeros(years.shape)
    return probability * project.capacity * ramp(years, project.first_year + delay_years, project.years_to_full)


def risk(params: ParamSet, status: str, financing: str = "none") -> tuple[float, float]:
    """(probability of producing [-], expected delay [years]) of a status and financing stage.

    A project not yet under construction counts at the higher probability (and shorter delay) of its
    status and its financing stage: a conditional loan or an FID moves it along, a status never drops.
    """
    prob = parameters.scalar(params, f"supply.status.{status}.probability")
    delay = parameters.scalar(params, f"supply.status.{status}.delay_years")
    if status in PRE_BUILD:
        prob = max(prob, parameters.scalar(params, f"supply.financing.{financing}.probability"))
        delay = min(delay, parameters.scalar(params, f"supply.financing.{financing}.delay_years"))
    return prob, delay


@dataclass(frozen=True)
class Utilisation:
    """Output as a share of nameplate: first year, mature level, years between [-, -, years]."""

    first: float
    mature: float
    years: float

    @classmethod
    def of(cls, params: ParamSet) -> Utilisation:
        return cls(
            parameters.scalar(params, "supply.utilisation.first_year"),
            parameters.scalar(params, "supply.utilisation.mature"),
            parameters.scalar(params, "supply.utilisation.years_to_mature"),
        )

    def path(self, years: np.ndarray, start_year: float | np.ndarray, start_level: float) -> np.ndarray:
        """From start_level at start_year to the mature level over ``years`` (never falling below start)."""
        k = np.clip((years - start_year) / self.years, 0.0, 1.0)
        target = max(self.mature, start_level)
        return start_level + (target - start_level) * k


def output_history(a: Assumptions) -> dict[str, dict[int, float]]:
    """Published output per project id: {year: t/yr in the project's unit}."""
    out: dict[str, dict[int, float]] = {}
    h = a.project_output
    if h is None or h.empty:
        return out
    for pid, year, value in zip(h["id"], h["year"], h["value"], strict=True):
        out.setdefault(str(pid), {})[int(year)] = float(value)
    return out


def site_capacity(p: SupplyProject, projects: list[SupplyProject], year: int) -> float:
    """Nameplate of a project plus its expansions started by ``year`` [project unit]."""
    return (p.capacity or 0.0) + sum(q.capacity or 0.0 for q in projects if q.expands == p.id and q.first_year <= year)


def risked_native(
    p: SupplyProject,
    a: Assumptions,
    params: ParamSet,
    years: np.ndarray,
    history: Mapping[str, Mapping[int, float]],
    online: np.ndarray | None = None,
    delay: np.ndarray | None = None,
) -> np.ndarray:
    """Expected output of one project [t/yr, project unit]; with online/delay arrays, one row per path.

    History years give the published output. Before the first one, a plant that was already running
    (from its first year, ramped) works at the utilisation of its first published year. After the
    last one, the site's observed utilisation moves to the mature level. Expansions of a site with
    history count only if they start after its last published year (the history is the site's
    total). Without history: probability (or the path's online draw) x nameplate ramp from the
    delayed start x utilisation ramp.
    """
    util = Utilisation.of(params)
    prob, mean_delay = risk(params, p.status, p.financing)
    paths = online is not None
    on = np.atleast_1d(np.asarray(online if paths else prob, dtype=float))[:, None]
    dl = np.atleast_1d(np.asarray(delay if paths else mean_delay, dtype=float))[:, None]
    zeros = np.zeros((on.shape[0], len(years)))
    own = history.get(p.id, {})
    site = history.get(p.expands, {}) if p.expands else {}
    if own:
        last = max(own)
        capacity_now = site_capacity(p, a.projects, last)
        level = min(own[last] / capacity_now, 1.0) if capacity_now > 0 else 0.0
        future = util.path(years, last, level) * np.array([site_capacity(p, a.projects, int(y)) for y in years])
        first = min(own)
        capacity_first = site_capacity(p, a.projects, first)
        level_first = min(own[first] / capacity_first, 1.0) if capacity_first > 0 else 0.0
        before = (
            level_first
            * np.array([site_capacity(p, a.projects, int(y)) for y in years])
            * ramp(years, p.first_year, p.years_to_full)
        )
        hist = np.array([own.get(int(y), 0.0) for y in years])
        out = zeros + np.where(years < first, before, np.where(years <= last, hist, future))
    elif p.capacity is None or (site and p.first_year <= max(site)):
        out = zeros  # undisclosed, or part of a site whose published output the base row carries
    else:
        start = p.first_year + (0.0 if p.status == "operating" else dl)
        out = on * p.capacity * ramp(years, start, p.years_to_full) * util.path(years, start, util.first)
    return out if paths else out[0]


@dataclass(frozen=True)
class ChainWeights:
    """How a project counts in each chain: at its own stage, and credited upstream (China's feed)."""

    own: dict[str, float]  # view -> weight at the project's stage(s)
    upstream_credit: dict[str, float]  # view -> weight credited to every stage above it


def chain_weights(p: SupplyProject) -> ChainWeights:
    counted = 1.0 if p.feeds is None else 0.0
    free = 0.0 if p.ownership == "chinese_controlled" else counted * (1.0 - p.china_feed_share)
    return ChainWeights(
        own={"outside_china": counted, "china_free": free, LOCATED: counted},
        upstream_credit={"outside_china": counted * p.china_feed_share, "china_free": 0.0, LOCATED: 0.0},
    )


def _stages_of(p: SupplyProject) -> list[str]:
    """Stages a project counts at: integrated separation (own feed) also counts as its own mine."""
    return [p.stage, "mine"] if (p.own_feed and p.stage == "separation") else [p.stage]


def material_factors(p: SupplyProject, a: Assumptions, params: ParamSet, years: np.ndarray) -> dict[str, np.ndarray]:
    """t of each material (NdFeB-equivalent, NdPr / Dy / Tb oxide) per t of the project's unit, by year."""
    grade = a.structure.supply_grade
    zeros = np.zeros(years.shape)
    if p.unit in HEAVY_UNITS:
        return {"NdFeB": zeros, "NdPr": zeros, **{el: (zeros + (el == HEAVY_UNITS[p.unit])) for el in ("Dy", "Tb")}}
    eq = magnet_equivalent_per_unit(p.unit, params, a.structure.elements, grade, years, p.ndpr_share_of_treo)
    heavy = {"Dy": zeros, "Tb": zeros}
    if p.unit in TREO_UNITS:
        heavy = {"Dy": zeros + (p.dy_share_of_treo or 0.0), "Tb": zeros + (p.tb_share_of_treo or 0.0)}
    return {"NdFeB": eq, "NdPr": eq * ndpr_oxide_per_magnet(params, a.structure.elements, grade, years), **heavy}


PROJECT_COLUMNS = ["year", "id", "stage", "unit", "weighting", "native_t", "magnet_eq_t", "counted", "own_feed"]


def project_supply(a: Assumptions, params: ParamSet, years: np.ndarray) -> pd.DataFrame:
    """Per project and year: nameplate and risked output in its own unit and in magnet-equivalent (tidy)."""
    history = output_history(a)
    frames = []
    for p in a.projects:
        eq = material_factors(p, a, params, years)["NdFeB"]
        for weighting in WEIGHTINGS:
            native = (
                capacity_native(p, years) if weighting == "nameplate" else risked_native(p, a, params, years, history)
            )
            frames.append(
                pd.DataFrame(
                    {
                        "year": years,
                        "id": p.id,
                        "stage": p.stage,
                        "unit": p.unit,
                        "weighting": weighting,
                        "native_t": native,
                        "magnet_eq_t": native * eq,
                        "counted": p.feeds is None,
                        "own_feed": p.own_feed,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)[PROJECT_COLUMNS]


def _add(out: dict, key: tuple, value: np.ndarray) -> None:
    out[key] = out[key] + value if key in out else value


def project_factors(a: Assumptions, params: ParamSet, years: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """:func:`material_factors` of every project by id, computed once per kind of product."""
    by_kind: dict[tuple, dict[str, np.ndarray]] = {}
    out = {}
    for p in a.projects:
        kind = (p.unit, p.ndpr_share_of_treo, p.dy_share_of_treo, p.tb_share_of_treo)
        if kind not in by_kind:
            by_kind[kind] = material_factors(p, a, params, years)
        out[p.id] = by_kind[kind]
    return out


def chain_arrays(
    a: Assumptions,
    params: ParamSet,
    years: np.ndarray,
    native: Mapping[str, np.ndarray],
    factors_by_project: Mapping[str, dict[str, np.ndarray]] | None = None,
) -> dict[tuple[str, str, str], np.ndarray]:
    """(chain, stage, material) -> t/yr from each project's native output (any leading path axes).

    ``factors_by_project``: :func:`project_factors` when the caller already has them.
    """
    out: dict[tuple[str, str, str], np.ndarray] = {}
    all_factors = factors_by_project if factors_by_project is not None else project_factors(a, params, years)
    for p in a.projects:
        values = native[p.id]
        w = chain_weights(p)
        factors = all_factors[p.id]
        upstream = CHAIN[: CHAIN.index(p.stage)] if p.stage in CHAIN else ()
        for material, f in factors.items():
            v = values * f
            for chain in (*CHAINS, LOCATED):
                for stage in _stages_of(p):
                    _add(out, (chain, stage, material), w.own[chain] * v)
                if w.upstream_credit[chain] > 0 and material in ("NdFeB", "NdPr"):
                    for stage in upstream:
                        _add(out, (chain, stage, material), w.upstream_credit[chain] * v)
    return out


STAGE_COLUMNS = ["year", "chain", "stage", "weighting", "material", "value"]


def stage_capacity(
    a: Assumptions, params: ParamSet, years: np.ndarray, chains: tuple[str, ...] = CHAINS
) -> pd.DataFrame:
    """Supply by year, chain, stage, weighting and material [t/yr] (tidy).

    NdFeB: magnet-equivalent; NdPr: NdPr oxide equivalent; Dy, Tb: oxide. Plants that feed another
    plant are not counted; integrated separation (own feed) also counts at the mine stage.
    """
    history = output_history(a)
    factors = project_factors(a, params, years)
    keys: list[tuple[str, str, str, str]] = []
    values: list[np.ndarray] = []
    zeros = np.zeros(years.shape)
    for weighting in WEIGHTINGS:
        native = {
            p.id: capacity_native(p, years) if weighting == "nameplate" else risked_native(p, a, params, years, history)
            for p in a.projects
        }
        arrays = chain_arrays(a, params, years, native, factors)
        for chain in chains:
            for stage in (*CHAIN, "recycling"):
                for material in MATERIALS:
                    keys.append((chain, stage, weighting, material))
                    values.append(arrays.get((chain, stage, material), zeros))
    return long_table(years, ("chain", "stage", "weighting", "material"), keys, values)[STAGE_COLUMNS]


SUPPLY_QUANTILES: tuple[float, ...] = (0.10, 0.50, 0.90)
SUPPLY_QUANTILE_COLUMNS: tuple[str, ...] = ("p10", "p50", "p90")
SUPPLY_PATHS = 2000


def supply_paths(
    a: Assumptions, params: ParamSet, years: np.ndarray, n_paths: int = SUPPLY_PATHS, seed: int = 0
) -> dict[tuple[str, str, str], np.ndarray]:
    """Monte Carlo risked output by (chain, stage, material) [t/yr], shape (paths, years).

    Per project and path: it comes online with its risk probability (one Bernoulli draw) and its
    start slips by an exponential delay with the risk's mean delay (one draw), independent across
    projects. Operating plants and published output are certain.
    """
    rng = np.random.default_rng(seed)
    history = output_history(a)
    native = {}
    for p in a.projects:
        prob, mean_delay = risk(params, p.status, p.financing)
        online = (rng.random(n_paths) < prob).astype(float)
        delay = rng.exponential(mean_delay, n_paths) if mean_delay > 0 else np.zeros(n_paths)
        native[p.id] = risked_native(p, a, params, years, history, online, delay)
    return chain_arrays(a, params, years, native)


def supply_quantile_table(
    a: Assumptions, params: ParamSet, years: np.ndarray, n_paths: int = SUPPLY_PATHS, seed: int = 0
) -> pd.DataFrame:
    """P10, P50, P90 of risked output: year, chain, stage, material, p10, p50, p90 [t/yr]."""
    paths = supply_paths(a, params, years, n_paths, seed)
    frames = []
    for (chain, stage, material), arr in paths.items():
        if chain not in CHAINS:
            continue
        q = np.quantile(arr, SUPPLY_QUANTILES, axis=0)
        frames.append(
            pd.DataFrame(
                {
                    "year": years,
                    "chain": chain,
                    "stage": stage,
                    "material": material,
                    **{c: q[i] for i, c in enumerate(SUPPLY_QUANTILE_COLUMNS)},
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


PROJECT_LIST_COLUMNS = [
    "id",
    "project",
    "company",
    "country",
    "stage",
    "unit",
    "basis",
    "capacity",
    "first_year",
    "status",
    "financing",
    "china_feed_share",
    "ownership",
    "feeds",
    "expands",
    "ndpr_share_of_treo",
    "status_source",
    "financing_source",
    "source_title",
    "source_publisher",
    "source_url",
    "note",
    "output_latest_year",
    "output_latest_t",
    "risk_probability",
    "risk_delay_years",
]


def project_table(a: Assumptions, params: ParamSet) -> pd.DataFrame:
    """The pipeline for users: one row per project with status, financing, feed origin, sources, latest output."""
    history = output_history(a)
    rows = []
    for p in a.projects:
        d = p.model_dump(
            exclude={
                "status_source_url",
                "financing_source_url",
                "own_feed",
                "dy_share_of_treo",
                "tb_share_of_treo",
                "years_to_full",
            }
        )
        h = history.get(p.id, {})
        prob, delay = risk(params, p.status, p.financing)
        rows.append(
            {
                **d,
                "status_source": p.status_source,
                "financing_source": p.financing_source,
                "output_latest_year": max(h) if h else None,
                "output_latest_t": h[max(h)] if h else None,
                "risk_probability": prob,
                "risk_delay_years": 0.0 if p.status == "operating" else delay,
            }
        )
    return pd.DataFrame(rows, columns=PROJECT_LIST_COLUMNS)
