"""magnet-forecast from Python: the service's tables as pandas DataFrames, for notebooks.

Every function returns the same tidy table, with the same columns and numbers, as the HTTP route
of the same name (``GET /v1/demand``, ``/v1/gap``, ...), computed here from an assumptions
directory (the bundled one by default) rather than fetched. Driver fits come from the same cache
as the command line and the service (fitted once per assumptions version, minutes on the first
run); calibration and the other inputs are computed once per version and process.

Units are tonnes per year throughout: ``t_magnet`` (NdFeB magnet on a basis: ``finished``,
``blank`` or ``alloy``), ``t_metal`` (an element contained in the magnet), ``t_oxide`` (primary
oxide needed, net of recycled machining swarf) and ``t_oxide_gross``. Every number the model uses is
in ``assumptions/`` with its unit, range and source; :func:`sources` lists the sources.

Examples
--------
>>> import magnet_forecast as mf
>>> d = mf.demand(scenario="base", basis="blank")
>>> d[(d.material == "NdFeB") & (d.year == 2040)].value.sum()  # world NdFeB blanks in 2040 [t]
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from api.fitcache import load_or_fit
from api.settings import get_settings
from forecast.backtest import DriverFits, with_fitted_drivers
from forecast.bundle import gap_and_balance
from forecast.calibration import CalibrationResult, band_parameters, calibrate
from forecast.composition import OXIDE_BASIS
from forecast.hindcast import hindcast as hindcast_report
from forecast.loading import default_assumptions_dir
from forecast.loading import load_assumptions as _load_directory
from forecast.model import forecast_scenario, horizon_years
from forecast.montecarlo import driver_quantile_table, quantile_table
from forecast.scenarios import resolve_parameters, scenario_names
from forecast.schemas import Assumptions
from forecast.sensitivity import sensitivity as sensitivity_table
from forecast.supply import stage_capacity, supply_quantile_table
from forecast.versioning import version_id

__all__ = [
    "Assumptions",
    "backtest",
    "balance",
    "calibration",
    "demand",
    "drivers",
    "gap",
    "hindcast",
    "load_assumptions",
    "parameters",
    "scenarios",
    "sensitivity",
    "sources",
    "supply",
    "version",
]

AssumptionsLike = Assumptions | str | Path | None
DEMAND_KEYS = ["year", "scenario", "segment", "material", "basis", "unit"]


@dataclass(frozen=True)
class _Prepared:
    """What every table of one assumptions version starts from."""

    version: str
    raw: Assumptions  # as loaded
    fitted: Assumptions  # with the ensemble driver trends
    fits: DriverFits
    calibration: CalibrationResult


_PREPARED: dict[str, _Prepared] = {}
_LOCK = threading.Lock()


def load_assumptions(path: str | Path | None = None) -> Assumptions:
    """Read and validate an assumptions directory.

    Parameters
    ----------
    path : str or Path, optional
        A directory laid out like ``assumptions/`` (parameters.yaml, sources.yaml, series/, supply/, ...).
        Default: the bundled assumptions.

    Returns
    -------
    Assumptions
        Validated assumptions; pass them to any function here as ``assumptions=``.

    Raises
    ------
    forecast.loading.AssumptionsError
        With every problem found, each naming the file, row or field and what was expected.
    """
    return _load_directory(Path(path) if path is not None else default_assumptions_dir())


def _raw(assumptions: AssumptionsLike) -> Assumptions:
    return assumptions if isinstance(assumptions, Assumptions) else load_assumptions(assumptions)


def _prepared(assumptions: AssumptionsLike) -> _Prepared:
    a = _raw(assumptions)
    key = version_id(a)
    with _LOCK:
        hit = _PREPARED.get(key)
        if hit is None:
            fits = load_or_fit(a, get_settings().fit_cache_dir())
            fitted = with_fitted_drivers(a, fits)
            hit = _Prepared(key, a, fitted, fits, calibrate(fitted))
            _PREPARED[key] = hit
    return hit


def _years(p: _Prepared, start: int | None, end: int | None) -> np.ndarray:
    h = p.fitted.model.horizon
    s, e = start or h.first_year, end or h.last_year
    if not h.first_year <= s <= e <= h.last_year:
        raise ValueError(f"years {s}-{e} must lie within the horizon {h.first_year}-{h.last_year}, start <= end")
    return horizon_years(p.fitted, s, e)


def _params(p: _Prepared, scenario: str) -> dict:
    return resolve_parameters(p.fitted, scenario, p.calibration.calibrated)


def version(assumptions: AssumptionsLike = None) -> str:
    """The assumptions version (content hash, 12 hex characters) every table is computed from."""
    return version_id(_raw(assumptions))


def scenarios(assumptions: AssumptionsLike = None) -> pd.DataFrame:
    """Scenarios and their definitions.

    Returns
    -------
    DataFrame
        ``scenario, description, source, note, overrides`` (overrides: parameter name -> value or
        {year: value}), base first. Source ids resolve in :func:`sources`.
    """
    a = _raw(assumptions)
    rows = [
        {
            "scenario": n,
            "description": a.scenarios[n].description,
            "source": a.scenarios[n].source,
            "note": a.scenarios[n].note,
            "overrides": dict(a.scenarios[n].overrides),
        }
        for n in scenario_names(a)
    ]
    return pd.DataFrame(rows)


def demand(
    scenario: str = "base",
    basis: str = "finished",
    quantiles: bool = False,
    start: int | None = None,
    end: int | None = None,
    assumptions: AssumptionsLike = None,
) -> pd.DataFrame:
    """World NdFeB demand by segment, and Nd, Pr, Dy, Tb in magnets and as oxide, per year.

    Parameters
    ----------
    scenario : str
        A scenario name (see :func:`scenarios`); ``base`` is calibrated to the DOE 2023 Critical
        Materials Assessment ratio where the sourced ranges allow it.
    basis : {"finished", "blank", "alloy"}
        Magnet tonnage basis: machined magnet in products, sintered blanks before machining
        (finished / machining yield), or alloy fed to magnet making (blank / sintering yield).
        Oxide rows are the same on every basis and always included.
    quantiles : bool
        Add Monte Carlo ``p5, p10, p50, p90, p95`` (the service's paths and seed, from the
        calibration base year on) and a ``total`` segment, as ``GET /v1/demand?quantiles=true``.
    start, end : int, optional
        First and last year (default: the horizon, 2015-2050).
    assumptions : Assumptions, str or Path, optional
        Assumptions or their directory (default: bundled).

    Returns
    -------
    DataFrame
        ``year, scenario, segment, material, basis, unit, value`` [t/yr]; units ``t_magnet``,
        ``t_metal``, ``t_oxide`` (primary, net of recycled swarf), ``t_oxide_gross``.
    """
    p = _prepared(assumptions)
    years = _years(p, start, end)
    d = forecast_scenario(p.fitted, scenario, p.calibration.calibrated, years)
    d = d[d["basis"].isin([basis, OXIDE_BASIS])].reset_index(drop=True)
    if not quantiles:
        return d
    total = d.groupby(["year", "scenario", "material", "basis", "unit"], as_index=False)["value"].sum()
    d = pd.concat([d, total.assign(segment="total")[d.columns]], ignore_index=True)
    future = years[years >= p.calibration.base_year]
    if len(future):
        params = band_parameters(p.fitted, p.calibration, scenario)
        q = quantile_table(p.fitted, params, scenario, future, get_settings().monte_carlo_paths)
        d = d.merge(q, on=DEMAND_KEYS, how="left")
    return d


def _gap_balance(p: _Prepared, scenario: str, start: int | None, end: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    return gap_and_balance(p.fitted, _params(p, scenario), scenario, _years(p, start, end))


def gap(
    scenario: str = "base",
    chain: str | None = None,
    region: str | None = None,
    stage: str | None = None,
    material: str | None = None,
    start: int | None = None,
    end: int | None = None,
    assumptions: AssumptionsLike = None,
) -> pd.DataFrame:
    """Demand against supply outside China: gap, coverage and the binding stage, as ``GET /v1/gap``.

    Parameters
    ----------
    scenario : str
        Demand scenario.
    chain : {"outside_china", "china_free"}, optional
        ``outside_china`` counts every plant outside China whatever its feed; ``china_free`` only the
        non-Chinese feed of plants not under Chinese control. Default: both.
    region : {"world", "ex_china"}, optional
        Whose demand is compared (default: both).
    stage : str, optional
        mine, separation, metal, alloy, magnet, recycling, or ``chain`` (what the chain delivers).
    material : {"NdFeB", "NdPr", "Dy", "Tb"}, optional
        NdFeB-equivalent magnet or oxide.
    start, end : int, optional
        Years (default: the horizon).
    assumptions : Assumptions, str or Path, optional

    Returns
    -------
    DataFrame
        One row per year, scenario, chain, stage, region and material: ``demand_t``,
        ``supply_nameplate_t``, ``supply_risked_t`` (expected output), supply P10/P90, ``gap_t``
        (demand - risked supply) [t/yr], ``coverage`` [fraction], ``binding_stage``, ``next_stage``.
        Project sources: ``assumptions/supply/projects.csv``.
    """
    g, _ = _gap_balance(_prepared(assumptions), scenario, start, end)
    for col, v in (("chain", chain), ("region", region), ("stage", stage), ("material", material)):
        if v is not None:
            g = g[g[col] == v]
    return g.reset_index(drop=True)


def balance(
    scenario: str = "base",
    material: str | None = None,
    start: int | None = None,
    end: int | None = None,
    assumptions: AssumptionsLike = None,
) -> pd.DataFrame:
    """World balance: China's supply, the rest of the world's, recycling and world demand.

    Parameters
    ----------
    scenario : str
    material : {"NdFeB", "NdPr", "Dy", "Tb"}, optional
        NdFeB in magnets, or oxide.
    start, end : int, optional
    assumptions : Assumptions, str or Path, optional

    Returns
    -------
    DataFrame
        ``year, scenario, material, unit, china_t, rest_of_world_t, recycled_t, supply_t, demand_t,
        deficit_t`` [t/yr] with china + rest_of_world + recycled + deficit = demand. China's quotas
        and output: ``assumptions/supply/china.csv`` (MIIT, CSRE, Adamas).
    """
    _, b = _gap_balance(_prepared(assumptions), scenario, start, end)
    if material is not None:
        b = b[b["material"] == material]
    return b.reset_index(drop=True)


def supply(
    chain: str | None = None,
    weighting: str | None = None,
    start: int | None = None,
    end: int | None = None,
    assumptions: AssumptionsLike = None,
) -> pd.DataFrame:
    """Supply outside China by chain, stage and material, as ``GET /v1/supply``.

    Parameters
    ----------
    chain : {"outside_china", "china_free"}, optional
    weighting : {"nameplate", "risked"}, optional
        Capacity as built, or expected output (probability, delay and ramp-up of each project).
    start, end : int, optional
    assumptions : Assumptions, str or Path, optional

    Returns
    -------
    DataFrame
        ``year, chain, stage, weighting, material, capacity_t`` [t/yr] and, for risked rows, Monte
        Carlo ``p10, p50, p90``; NdFeB-equivalent or NdPr/Dy/Tb oxide.
    """
    p = _prepared(assumptions)
    years = _years(p, start, end)
    base = _params(p, "base")
    s = stage_capacity(p.fitted, base, years).rename(columns={"value": "capacity_t"})
    q = supply_quantile_table(p.fitted, base, years).assign(weighting="risked")
    s = s.merge(q, on=["year", "chain", "stage", "weighting", "material"], how="left")
    for col, v in (("chain", chain), ("weighting", weighting)):
        if v is not None:
            s = s[s[col] == v]
    return s.reset_index(drop=True)


def drivers(
    scenario: str = "base", start: int | None = None, end: int | None = None, assumptions: AssumptionsLike = None
) -> pd.DataFrame:
    """Electric car, bus, truck, van sales and wind installations behind demand, as ``GET /v1/drivers``.

    Returns
    -------
    DataFrame
        ``year, scenario, driver, unit, kind`` (history or projection), ``value`` and ``p5 .. p95``
        (vehicles/yr; wind GW/yr). History: IEA Global EV Outlook, IRENA capacity statistics.
    """
    p = _prepared(assumptions)
    return driver_quantile_table(p.fitted, _params(p, scenario), scenario, _years(p, start, end))


def hindcast(assumptions: AssumptionsLike = None) -> pd.DataFrame:
    """The model's own 2015-2025 world totals against published NdFeB production.

    Returns
    -------
    DataFrame
        ``year, model_t, published_t, error, source, note`` on the published (blank) basis;
        ``error`` = model / published - 1. The MAPE is ``error.abs().mean()``. Published series:
        ``assumptions/series/ndfeb_history.csv`` (CSRE, MIIT, Adamas).
    """
    p = _prepared(assumptions)
    return hindcast_report(p.fitted, _params(p, "base")).rows


def calibration(assumptions: AssumptionsLike = None) -> dict[str, Any]:
    """How the base scenario is tied to the DOE 2023 ratio (the ``GET /v1/calibration`` card).

    Returns
    -------
    dict
        Target and achieved ratios, the moved parameters (name, unit, before, after, low, high,
        source) and whether the target is reachable within the sourced ranges.
    """
    return _prepared(assumptions).calibration.to_dict()


def backtest(assumptions: AssumptionsLike = None) -> pd.DataFrame:
    """Rolling-origin skill of every driver model: MAPE, MAE, MASE against naive drift, 80/95% coverage.

    Returns
    -------
    DataFrame
        One row per series and model (``ensemble`` included), as ``GET /v1/backtest``.
    """
    return _prepared(assumptions).fits.report()


def sensitivity(
    scenario: str = "base", year: int = 2040, output: str = "total", assumptions: AssumptionsLike = None
) -> pd.DataFrame:
    """What drives demand: each uncertain input swept over its range, with Sobol indices.

    Returns
    -------
    DataFrame
        ``name, unit, low_value, high_value, output_low, output_high, S1, ST ...`` for ``output``
        (``total`` NdFeB [t_magnet, finished] or an element's primary oxide) in ``year``; the same
        table as ``GET /v1/sensitivity`` (one-at-a-time sweep over each sourced range, first-order
        and total Sobol indices from SALib).
    """
    p = _prepared(assumptions)
    table = sensitivity_table(p.fitted, _params(p, scenario), scenario, (year,))
    return table[table["output"] == output].reset_index(drop=True)


def parameters(assumptions: AssumptionsLike = None) -> pd.DataFrame:
    """Every parameter: ``name, value, trajectory, unit, low, high, source, note`` (source ids: :func:`sources`)."""
    a = _raw(assumptions)
    rows = [
        {
            "name": n,
            "value": p.value,
            "trajectory": dict(p.trajectory) if p.trajectory else None,
            "unit": p.unit,
            "low": p.low,
            "high": p.high,
            "source": p.source,
            "note": p.note,
        }
        for n, p in sorted(a.parameters.items())
    ]
    return pd.DataFrame(rows)


def sources(assumptions: AssumptionsLike = None) -> pd.DataFrame:
    """Every source the assumptions cite: ``id, title, publisher, year, url, quote, note``."""
    a = _raw(assumptions)
    return pd.DataFrame(
        [{"id": k, **s.model_dump()} for k, s in sorted(a.sources.items())],
        columns=["id", "title", "publisher", "year", "url", "quote", "note"],
    )
