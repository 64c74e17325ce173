"""The deterministic pipeline: drivers -> segment magnet demand -> elements, per scenario."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from forecast.composition import element_t
from forecast.demand import segment_magnet_t
from forecast.drivers import driver_arrays
from forecast.params import ParamSet
from forecast.scenarios import resolve_parameters, scenario_names
from forecast.schemas import Assumptions, Parameter

DEMAND_COLUMNS = ["year", "scenario", "segment", "material", "unit", "value"]


def horizon_years(a: Assumptions, start: int | None = None, end: int | None = None) -> np.ndarray:
    """Years from start to end inclusive (defaults: the horizon in model.yaml)."""
    h = a.model.horizon
    return np.arange(start or h.first_year, (end or h.last_year) + 1)


def demand_for_params(a: Assumptions, params: ParamSet, years: np.ndarray) -> pd.DataFrame:
    """Magnet and element demand for one parameter set (no scenario column)."""
    drivers = driver_arrays(a.histories(), params, years, a.driver_trends)
    magnets = segment_magnet_t(a.structure.segments, params, drivers, years, a.model.calibration.base_year)
    series = {(seg, "NdFeB", "t_magnet"): v for seg, v in magnets.items()}
    series |= element_t(magnets, a.structure.segments, a.structure.elements, params, years)
    return tidy(series, years)


def tidy(series: Mapping[tuple[str, str, str], np.ndarray], years: np.ndarray) -> pd.DataFrame:
    """One long table (year, segment, material, unit, value) from arrays keyed by (segment, material, unit)."""
    keys = list(series)
    n = len(years)
    return pd.DataFrame(
        {
            "year": np.tile(years, len(keys)),
            "segment": np.repeat([k[0] for k in keys], n),
            "material": np.repeat([k[1] for k in keys], n),
            "unit": np.repeat([k[2] for k in keys], n),
            "value": np.concatenate([series[k] for k in keys]) if keys else np.array([], dtype=float),
        }
    )


def total_magnet_t(demand: pd.DataFrame) -> pd.Series:
    """World NdFeB magnet demand summed over segments [t/yr], indexed by year."""
    m = demand[(demand["material"] == "NdFeB") & (demand["unit"] == "t_magnet")]
    return m.groupby("year")["value"].sum()


def forecast_scenario(
    a: Assumptions,
    scenario: str,
    calibrated: Mapping[str, Parameter] | None = None,
    years: np.ndarray | None = None,
) -> pd.DataFrame:
    """Tidy demand table of one scenario: year, scenario, segment, material, unit, value."""
    params = resolve_parameters(a, scenario, calibrated)
    out = demand_for_params(a, params, horizon_years(a) if years is None else years)
    out.insert(1, "scenario", scenario)
    return out[DEMAND_COLUMNS]


def forecast_all(
    a: Assumptions, calibrated: Mapping[str, Parameter] | None = None, years: np.ndarray | None = None
) -> pd.DataFrame:
    """Tidy demand table of every scenario."""
    return pd.concat([forecast_scenario(a, s, calibrated, years) for s in scenario_names(a)], ignore_index=True)
