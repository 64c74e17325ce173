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
from forecast.montecarlo import DEFAULT_PATHS, driver_quantile_table, quantile_table
from forecast.scenarios import resolve_parameters, scenario_names
from forecast.schemas import Assumptions
from forecast.supply import stage_capacity, supply_quantile_table
from forecast.versioning import version_id

# Bump when Assumptions or ForecastBundle change shape: a stored bundle of another format is rebuilt
# from its stored files (see api.store.repository.OutdatedBundle).
BUNDLE_FORMAT = 5


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


def build_bundle(a: Assumptions, fits: DriverFits | None = None, n_paths: int = DEFAULT_PATHS) -> ForecastBundle:
    """Calibrate, then forecast demand, supply, gap and Monte Carlo bands for every scenario.

    With ``fits`` the drivers follow the backtested ensemble; without, the capped logistic. The
    version id always names the assumptions, not the fits (fits are a function of them).
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
    )
