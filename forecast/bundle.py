"""Everything a version of the assumptions yields, computed once: the unit the service serves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.backtest import DriverFits, driver_trends
from forecast.balance import balance_table, china_supply_table
from forecast.calibration import CalibrationResult, band_parameters, calibrate
from forecast.gap import SUPPLY_BASIS, demand_by_material, eol_recyclable_t, gap_for_params
from forecast.hindcast import Hindcast, hindcast
from forecast.model import demand_series, forecast_all, horizon_years, tidy
from forecast.montecarlo import driver_quantile_table, power_of_two, quantile_table
from forecast.params import ParamSet
from forecast.progress import ProgressFn, silent
from forecast.regions import regional_demand_for_params
from forecast.scenarios import resolve_parameters, scenario_names
from forecast.schemas import Assumptions
from forecast.sensitivity import sensitivity
from forecast.supply import CHAINS, LOCATED, project_table, stage_capacity, supply_quantile_table
from forecast.versioning import version_id

# Bump when Assumptions or ForecastBundle change shape, or the numbers a bundle holds are computed
# differently (8: Monte Carlo bands centred on the central path): a stored bundle of another format is rebuilt
# from its stored files (see api.store.repository.OutdatedBundle).
BUNDLE_FORMAT = 9


@dataclass(frozen=True)
class ForecastBundle:
    """Demand, supply, gap and calibration of every scenario for one assumptions version."""

    version: str
    assumptions: Assumptions
    calibration: CalibrationResult
    demand: pd.DataFrame  # year, scenario, segment, material, unit, value
    supply: pd.DataFrame  # year, chain, stage, weighting, material, capacity_t, p10 .. p90
    gap: pd.DataFrame  # gap_table columns, both chains, all scenarios
    hindcast: Hindcast
    fits: DriverFits | None = None
    quantiles: pd.DataFrame | None = None  # year, scenario, segment, material, unit, p5 .. p95
    drivers: pd.DataFrame | None = None  # year, scenario, driver, unit, kind, value, p5 .. p95
    balance: pd.DataFrame | None = None  # balance_table columns, all scenarios
    china: pd.DataFrame | None = None  # China's supply by stage (base parameters)
    projects: pd.DataFrame | None = None  # the pipeline, one row per project
    sensitivity: pd.DataFrame | None = None  # forecast.sensitivity.COLUMNS, base scenario
    format: int = BUNDLE_FORMAT

    @property
    def scenarios(self) -> list[str]:
        return scenario_names(self.assumptions)

    @property
    def years(self) -> np.ndarray:
        return horizon_years(self.assumptions)


def demand_with_quantiles(b: ForecastBundle) -> pd.DataFrame:
    """Demand plus a 'total' segment, with the Monte Carlo quantiles merged in (NaN where none)."""
    keys = ["year", "scenario", "material", "basis", "unit"]
    total = b.demand.groupby(keys, as_index=False)["value"].sum().assign(segment="total")
    d = pd.concat([b.demand, total[b.demand.columns]], ignore_index=True)
    if b.quantiles is not None:
        d = d.merge(b.quantiles, on=["year", "scenario", "segment", "material", "basis", "unit"], how="left")
    return d


def regional_demand_inputs(a: Assumptions, params: ParamSet, years: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demand rows gap, balance and end of life read, world and by region, from the first stock year
    to the last of ``years`` [t/yr]: magnet on the finished and supply bases, and gross oxide."""
    first = min(a.model.horizon.stock_first_year, int(years.min()))
    all_years = np.arange(first, years.max() + 1)
    needed = demand_series(a, params, all_years, select=_read_by_gap_and_balance)
    demand = tidy(needed, all_years)
    return demand, regional_demand_for_params(a, params, demand, all_years)


def _read_by_gap_and_balance(key: tuple[str, str, str, str]) -> bool:
    """Keys (segment, material, basis, unit) the gap, the balance and end of life read."""
    _, material, basis, unit = key
    return (
        material == "NdFeB" and unit == "t_magnet" and basis in ("finished", SUPPLY_BASIS)
    ) or unit == "t_oxide_gross"


def demand_inputs(a: Assumptions, params: ParamSet, years: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """What gap and balance take from the demand side: demand by region and material (ex-China = the
    sum of the regions outside China), and the end-of-life magnet-equivalent recovered outside China
    and worldwide [t/yr]."""
    all_demand, regional = regional_demand_inputs(a, params, years)
    materials, eol_ex = regional_inputs(a, params, years, regional)
    return materials, eol_ex, eol_recyclable_t(a, params, all_demand, years, region="world")


def regional_inputs(
    a: Assumptions, params: ParamSet, years: np.ndarray, regional: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray]:
    """Demand by region and material over ``years`` and the end-of-life magnet-equivalent recovered
    outside China [t/yr], from :func:`regional_demand_inputs`' regional table."""
    materials = demand_by_material(regional[regional["year"].isin(years)], years)
    return materials, eol_recyclable_t(a, params, regional, years)


def located_output(
    a: Assumptions, params: ParamSet, years: np.ndarray, capacity: pd.DataFrame | None = None
) -> dict[str, np.ndarray]:
    """Risked output of plants outside China, at the stage where each material is measured in the balance.

    ``capacity``: a :func:`forecast.supply.stage_capacity` table over ``years`` holding the located chain.
    """
    cap = stage_capacity(a, params, years, chains=(LOCATED,)) if capacity is None else capacity
    risked = cap[(cap["weighting"] == "risked") & (cap["chain"] == LOCATED)]
    where = {"NdFeB": "magnet", "NdPr": "separation", "Dy": "separation", "Tb": "separation"}
    out = {}
    for material, stage in where.items():
        rows = risked[(risked["stage"] == stage) & (risked["material"] == material)]
        out[material] = rows.set_index("year")["value"].reindex(years).to_numpy()
    return out


def gap_and_balance(
    a: Assumptions, params: ParamSet, scenario: str, years: np.ndarray, quantiles: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The gap (both chains) and the world balance of one scenario, from one demand run."""
    materials, eol_ex, eol_world = demand_inputs(a, params, years)
    capacity = stage_capacity(a, params, years, chains=(*CHAINS, LOCATED))
    gap = gap_for_params(a, params, scenario, years, materials, eol_ex, quantiles, capacity)
    world = materials[materials["region"] == "world"]
    located = located_output(a, params, years, capacity)
    balance = balance_table(a, params, scenario, years, world, located, eol_world)
    return gap, balance


def gap_table(
    a: Assumptions, params: ParamSet, scenario: str, years: np.ndarray, quantiles: bool = True
) -> pd.DataFrame:
    """The gap (both chains) of one scenario [t/yr], as :func:`gap_and_balance` gives it, without the
    balance's work: what a what-if serves."""
    materials, eol_ex = regional_inputs(a, params, years, regional_demand_inputs(a, params, years)[1])
    return gap_for_params(a, params, scenario, years, materials, eol_ex, quantiles)


def world_balance(a: Assumptions, params: ParamSet, scenario: str, years: np.ndarray) -> pd.DataFrame:
    """The world balance of one scenario [t/yr], as :func:`gap_and_balance` gives it, without the gap's work."""
    materials, _, eol_world = demand_inputs(a, params, years)
    world = materials[materials["region"] == "world"]
    return balance_table(a, params, scenario, years, world, located_output(a, params, years), eol_world)


SENSITIVITY_YEARS: tuple[int, ...] = (2030, 2040)


def build_bundle(
    a: Assumptions, fits: DriverFits | None = None, n_paths: int | None = None, progress: ProgressFn = silent
) -> ForecastBundle:
    """Calibrate, then forecast demand, supply, gap and Monte Carlo bands for every scenario.

    With ``fits`` the drivers follow the backtested ensemble; without, the capped logistic. The
    version id always names the assumptions, not the fits (fits are a function of them). Monte
    Carlo paths: ``n_paths`` (rounded down to a power of two) or model.yaml's ``uncertainty.paths``.
    ``progress`` hears of each step (calibration, supply, then gap, Monte Carlo and drivers per scenario).
    """
    version = version_id(a)
    if fits is not None:
        a = a.model_copy(update={"driver_trends": driver_trends(fits)})
    names = scenario_names(a)
    steps, step = 3 + 3 * len(names), iter(range(3 + 3 * len(names)))
    progress("calibrating", next(step), steps)
    cal = calibrate(a)
    years = horizon_years(a)
    base = resolve_parameters(a, "base", cal.calibrated)
    progress("supply outside China", next(step), steps)
    supply = stage_capacity(a, base, years).rename(columns={"value": "capacity_t"})
    sq = supply_quantile_table(a, base, years).assign(weighting="risked")
    supply = supply.merge(sq, on=["year", "chain", "stage", "weighting", "material"], how="left")
    pairs = []
    for s in names:
        progress(f"gap and balance: {s}", next(step), steps)
        pairs.append(gap_and_balance(a, resolve_parameters(a, s, cal.calibrated), s, years))
    gaps = pd.concat([g for g, _ in pairs], ignore_index=True)
    balance = pd.concat([b for _, b in pairs], ignore_index=True)
    future = years[years >= cal.base_year]
    n_paths = power_of_two(n_paths or a.model.uncertainty.paths)
    tables = []
    for s in names:
        progress(f"Monte Carlo ({n_paths} paths): {s}", next(step), steps)
        tables.append(quantile_table(a, band_parameters(a, cal, s), s, future, n_paths))
    quantiles = pd.concat(tables, ignore_index=True)
    driver_tables = []
    for s in names:
        progress(f"driver bands: {s}", next(step), steps)
        driver_tables.append(driver_quantile_table(a, band_parameters(a, cal, s), s, years))
    drivers = pd.concat(driver_tables, ignore_index=True)
    progress("sensitivity", next(step), steps)
    sens = sensitivity(a, base, "base", tuple(y for y in SENSITIVITY_YEARS if y in set(years)))
    progress("forecast computed", steps, steps)
    return ForecastBundle(
        version=version,
        assumptions=a,
        calibration=cal,
        demand=forecast_all(a, cal.calibrated, years),
        supply=supply,
        gap=gaps,
        hindcast=hindcast(a, base),
        fits=fits,
        quantiles=quantiles,
        drivers=drivers,
        balance=balance,
        china=china_supply_table(a, base, years),
        projects=project_table(a, base),
        sensitivity=sens,
    )


SCENARIO_TABLE_YEARS: tuple[int, ...] = (2030, 2040)


def scenario_table(b: ForecastBundle, years: tuple[int, ...] = SCENARIO_TABLE_YEARS) -> pd.DataFrame:
    """Each scenario's world totals in ``years``: scenario, year, ndfeb_t (finished), ndpr_oxide_t,
    dy_oxide_t (primary oxide, net of recycled swarf) and the NdFeB P5 and P95 [t/yr]."""
    d = b.demand[b.demand["year"].isin(years)]
    magnet = d[(d["material"] == "NdFeB") & (d["basis"] == "finished")].groupby(["scenario", "year"])["value"].sum()
    oxide = d[d["unit"] == "t_oxide"]
    ndpr = oxide[oxide["material"].isin(["Nd", "Pr"])].groupby(["scenario", "year"])["value"].sum()
    dy = oxide[oxide["material"] == "Dy"].groupby(["scenario", "year"])["value"].sum()
    out = pd.DataFrame({"ndfeb_t": magnet, "ndpr_oxide_t": ndpr, "dy_oxide_t": dy}).reset_index()
    if b.quantiles is not None:
        q = b.quantiles
        q = q[(q["segment"] == "total") & (q["material"] == "NdFeB") & (q["basis"] == "finished")]
        q = q[q["year"].isin(years)][["scenario", "year", "p5", "p95"]]
        out = out.merge(q.rename(columns={"p5": "ndfeb_p5", "p95": "ndfeb_p95"}), on=["scenario", "year"], how="left")
    order = {s: i for i, s in enumerate(b.scenarios)}
    return out.sort_values(["scenario", "year"], key=lambda c: c.map(order) if c.name == "scenario" else c).reset_index(
        drop=True
    )
