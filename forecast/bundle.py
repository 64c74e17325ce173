"""Everything a version of the assumptions yields, computed once: the unit the service serves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.backtest import DriverFits, driver_trends
from forecast.calibration import CalibrationResult, calibrate
from forecast.gap import gap_table
from forecast.hindcast import Hindcast, hindcast
from forecast.model import forecast_all, horizon_years
from forecast.montecarlo import driver_quantile_table, power_of_two, quantile_table
from forecast.scenarios import resolve_parameters, scenario_names
from forecast.schemas import Assumptions
from forecast.sensitivity import sensitivity
from forecast.supply import stage_capacity, supply_quantile_table
from forecast.versioning import version_id

# Bump when Assumptions or ForecastBundle change shape: a stored bundle of another format is rebuilt
# from its stored files (see api.store.repository.OutdatedBundle).
BUNDLE_FORMAT = 6


@dataclass(frozen=True)
class ForecastBundle:
    """Demand, supply, gap and calibration of every scenario for one assumptions version."""

    version: str
    assumptions: Assumptions
    calibration: CalibrationResult
    demand: pd.DataFrame  # year, scenario, segment, material, unit, value
    supply: pd.DataFrame  # year, stage, weighting, material, capacity_t
    gap: pd.DataFrame  # gap_table columns, all scenarios
    hindcast: Hindcast
    fits: DriverFits | None = None
    quantiles: pd.DataFrame | None = None  # year, scenario, segment, material, unit, p5 .. p95
    drivers: pd.DataFrame | None = None  # year, scenario, driver, unit, kind, value, p5 .. p95
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


SENSITIVITY_YEARS: tuple[int, ...] = (2030, 2040)


def build_bundle(a: Assumptions, fits: DriverFits | None = None, n_paths: int | None = None) -> ForecastBundle:
    """Calibrate, then forecast demand, supply, gap and Monte Carlo bands for every scenario.

    With ``fits`` the drivers follow the backtested ensemble; without, the capped logistic. The
    version id always names the assumptions, not the fits (fits are a function of them). Monte
    Carlo paths: ``n_paths`` (rounded down to a power of two) or model.yaml's ``uncertainty.paths``.
    """
    version = version_id(a)
    if fits is not None:
        a = a.model_copy(update={"driver_trends": driver_trends(fits)})
    cal = calibrate(a)
    years = horizon_years(a)
    base = resolve_parameters(a, "base", cal.calibrated)
    supply = stage_capacity(a, base, years).rename(columns={"value": "capacity_t"})
    sq = supply_quantile_table(a, base, years).assign(weighting="risked")
    supply = supply.merge(sq, on=["year", "stage", "weighting", "material"], how="left")
    gaps = pd.concat([gap_table(a, s, cal.calibrated, years) for s in scenario_names(a)], ignore_index=True)
    future = years[years >= cal.base_year]
    n_paths = power_of_two(n_paths or a.model.uncertainty.paths)
    quantiles = pd.concat(
        [quantile_table(a, resolve_parameters(a, s, cal.calibrated), s, future, n_paths) for s in scenario_names(a)],
        ignore_index=True,
    )
    drivers = pd.concat(
        [driver_quantile_table(a, resolve_parameters(a, s, cal.calibrated), s, years) for s in scenario_names(a)],
        ignore_index=True,
    )
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
        sensitivity=sensitivity(a, base, "base", tuple(y for y in SENSITIVITY_YEARS if y in set(years))),
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
