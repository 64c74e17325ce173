"""The deterministic pipeline: drivers -> segment magnet demand -> elements, per scenario."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from forecast.basis import from_finished
from forecast.composition import element_t
from forecast.demand import segment_magnet_t
from forecast.drivers import driver_arrays
from forecast.params import ParamSet
from forecast.scenarios import resolve_parameters, scenario_names
from forecast.schemas import BASES, Assumptions, Parameter, Segment
from forecast.tables import long_table, repeated_labels

DEMAND_COLUMNS = ["year", "scenario", "segment", "material", "basis", "unit", "value"]
KEY_COLUMNS = ["segment", "material", "basis", "unit"]
Key = tuple[str, str, str, str]  # (segment, material, basis, unit): a demand series


def horizon_years(a: Assumptions, start: int | None = None, end: int | None = None) -> np.ndarray:
    """Years from start to end inclusive (defaults: the horizon in model.yaml)."""
    h = a.model.horizon
    return np.arange(start or h.first_year, (end or h.last_year) + 1)


def demand_for_params(a: Assumptions, params: ParamSet, years: np.ndarray) -> pd.DataFrame:
    """Magnet and element demand for one parameter set (no scenario column)."""
    return tidy(demand_series(a, params, years), years)


def demand_series(
    a: Assumptions,
    params: ParamSet,
    years: np.ndarray,
    drivers: Mapping[str, np.ndarray] | None = None,
    select: Callable[[Key], bool] | None = None,
    dtype: type | None = None,
) -> dict[Key, np.ndarray]:
    """Demand arrays keyed by (segment, material, basis, unit) [t/yr]: the model both evaluators share.

    With drawn parameters (:class:`forecast.params.DrawnParams`) and path-shaped drivers every array
    is (paths, years); otherwise (years,). ``select`` keeps only some keys (all by default).
    ``dtype``: the magnet tonnages and per-tonne factors are cast to it before the products that make
    every row (the Monte Carlo's float32 halves the bytes those products write); None keeps float64.

    Element tonnages are linear in a segment's finished magnet, so they are computed once per magnet
    grade for one tonne (:func:`forecast.composition.element_t`) and scaled by each segment's tonnage.
    """
    if drivers is None:
        drivers = driver_arrays(a.histories(), params, years, a.driver_trends, unit_driver_units(a))
    segments = a.structure.segments
    magnets = segment_magnet_t(segments, params, dict(drivers), years, a.model.calibration.base_year)
    keep = select or (lambda _key: True)
    per_basis = {b: from_finished(np.ones(1), params, b, years) for b in BASES}
    grades: dict[str, Segment] = {seg.grade: seg for seg in segments.values()}
    of_grade: dict[str, list[str]] = {}  # segments of each grade: the per-tonne rows they need
    for name, spec in segments.items():
        of_grade.setdefault(spec.grade, []).append(name)
    per_tonne = element_t(
        {g: np.ones(1) for g in grades},
        grades,
        a.structure.elements,
        params,
        years,
        None if select is None else lambda k: any(keep((s, *k[1:])) for s in of_grade[k[0]]),
    )
    if dtype is not None:
        magnets = {seg: np.asarray(v, dtype=dtype) for seg, v in magnets.items()}
        per_basis = {b: np.asarray(v, dtype=dtype) for b, v in per_basis.items()}
        per_tonne = {k: np.asarray(v, dtype=dtype) for k, v in per_tonne.items()}
    series: dict[Key, np.ndarray] = {}
    for seg, finished in magnets.items():
        for b in BASES:
            if keep((seg, "NdFeB", b, "t_magnet")):
                series[(seg, "NdFeB", b, "t_magnet")] = finished * per_basis[b]
    for seg, finished in magnets.items():
        grade = segments[seg].grade
        for (g, el, b, unit), factor in per_tonne.items():
            if g == grade and keep((seg, el, b, unit)):
                series[(seg, el, b, unit)] = finished * factor
    return series


def unit_driver_units(a: Assumptions) -> dict[str, str]:
    """Unit drivers the structure declares, name -> unit."""
    return {name: d.unit for name, d in a.structure.unit_drivers.items()}


def tidy(series: Mapping[Key, np.ndarray], years: np.ndarray) -> pd.DataFrame:
    """One long table (year, segment, material, basis, unit, value) from arrays keyed by those dimensions."""
    return long_table(years, KEY_COLUMNS, list(series), list(series.values()))


def total_magnet_t(demand: pd.DataFrame, basis: str = "finished") -> pd.Series:
    """World NdFeB magnet demand summed over segments [t/yr] on a basis, indexed by year."""
    m = demand[(demand["material"] == "NdFeB") & (demand["unit"] == "t_magnet") & (demand["basis"] == basis)]
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
    out.insert(1, "scenario", pd.Series(repeated_labels([scenario], len(out)), index=out.index))
    return out[DEMAND_COLUMNS]


def forecast_all(
    a: Assumptions, calibrated: Mapping[str, Parameter] | None = None, years: np.ndarray | None = None
) -> pd.DataFrame:
    """Tidy demand table of every scenario (rows as :func:`forecast_scenario` gives them, scenario by scenario)."""
    ys = horizon_years(a) if years is None else years
    keys: list[tuple[str, ...]] = []
    values: list[np.ndarray] = []
    for scenario in scenario_names(a):
        series = demand_series(a, resolve_parameters(a, scenario, calibrated), ys)
        keys += [(scenario, *k) for k in series]
        values += list(series.values())
    return long_table(ys, ("scenario", *KEY_COLUMNS), keys, values)[DEMAND_COLUMNS]
