"""Driver projections: electric car sales and wind installations, history then a logistic trend.

The logistic has a sourced saturation cap K (parameters ``drivers.*_cap``) and is fitted by least
squares on the logit ``ln(y / (K - y)) = r (t - t0)``, which is transparent and exact for an exact
logistic. The richer model set (Prophet, ETS, ARIMA, ...) lives in :mod:`forecast.driver_models`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast import params as P
from forecast.params import ParamSet
from forecast.schemas import COMMERCIAL_MODES, TOTAL

FlaggedArrays = dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (values by year, is-history flags)


@dataclass(frozen=True)
class LogisticFit:
    """y(t) = cap / (1 + exp(-rate (t - midpoint_year))) [unit of y]."""

    cap: float
    rate: float
    midpoint_year: float

    def __call__(self, years: np.ndarray) -> np.ndarray:
        if self.rate == 0.0:  # the flat fallback: hold the level
            return np.full(np.shape(years), self.cap, dtype=float)
        return self.cap / (1.0 + np.exp(-self.rate * (years.astype(float) - self.midpoint_year)))


def fit_logistic(years: np.ndarray, values: np.ndarray, cap: float) -> LogisticFit:
    """Least-squares logistic with a fixed cap, fitted on the logit scale.

    years: calendar years; values: positive observations below cap [any unit]; cap: saturation [same unit].
    """
    y = np.asarray(values, dtype=float)
    t = np.asarray(years, dtype=float)
    ok = (y > 0) & (y < cap)
    if ok.sum() < 2:
        raise ValueError("need at least two observations strictly between 0 and the cap")
    rate, intercept = np.polyfit(t[ok], np.log(y[ok] / (cap - y[ok])), 1)
    if rate <= 0:
        # A flat or falling history has no S-curve; hold the last level instead (documented fallback).
        level = float(y[ok][-1])
        return LogisticFit(cap=level, rate=0.0, midpoint_year=float(t[ok][-1]))
    return LogisticFit(cap=float(cap), rate=float(rate), midpoint_year=float(-intercept / rate))


def world_history(history: pd.DataFrame, key: str) -> dict[str, dict[int, float]]:
    """World rows of a history table as {key value: {year: value}} (e.g. {"BEV": {2012: 59000.0}})."""
    world = history["region"].to_numpy() == "World"
    out: dict[str, dict[int, float]] = {}
    for k, y, v in zip(
        history[key].to_numpy()[world],
        history["year"].to_numpy()[world],
        history["value"].to_numpy()[world],
        strict=True,
    ):
        out.setdefault(str(k), {})[int(y)] = float(v)
    return out


def anchored_path(observed: Mapping[int, float], anchors: Mapping[int, float], years: np.ndarray) -> np.ndarray:
    """Straight lines from the last observation through the anchors after it, held after the last
    anchor [unit of the values]; anchors alone when nothing is observed, zeros when there is neither."""
    points = dict(anchors)
    if observed:
        last = max(observed)
        points = {y: v for y, v in points.items() if y > last} | {last: observed[last]}
    if not points:
        return np.zeros(len(years))
    xs = np.array(sorted(points), dtype=float)
    return np.interp(years.astype(float), xs, np.array([points[int(x)] for x in xs], dtype=float))


@dataclass(frozen=True)
class PathBlend:
    """A published path for a driver's total and how much of it replaces the fitted trend (0..1 by year)."""

    anchors: Mapping[int, float]
    weight: np.ndarray


def _split_projection(
    parts: dict[str, dict[int, float]],
    cap: float,
    multiplier: np.ndarray,
    shares: dict[str, np.ndarray],
    years: np.ndarray,
    trend_override: pd.DataFrame | None = None,
    blend: PathBlend | None = None,
) -> FlaggedArrays:
    """Observed parts where known; elsewhere the trend of their total x multiplier x share.

    parts may hold a ``total`` entry for years whose split is not published: those years count as
    history, and their total is split by the same shares as projected years.
    The trend is the ensemble projection (trend_override: year, mean) where it covers a year, else a
    logistic fitted with the sourced cap (which also back-casts years before the data); ``blend``
    mixes in a published path from the last observation: (1 - w) trend + w path.
    """
    observed_total = dict(parts.get(TOTAL, {}))
    split = {k: v for k, v in parts.items() if k != TOTAL}
    split_years: set[int] = set().union(*(p.keys() for p in split.values()))
    for y in split_years:
        observed_total.setdefault(y, sum(p.get(y, 0.0) for p in split.values()))
    hist_years = sorted(observed_total)
    fit = fit_logistic(np.array(hist_years), np.array([observed_total[y] for y in hist_years]), cap)
    last = max(hist_years)
    base = fit(years)
    if trend_override is not None and len(trend_override):
        ens = trend_override.set_index("year")["mean"].reindex(years).to_numpy(dtype=float)
        base = np.where(np.isnan(ens), base, ens)
    if blend is not None:
        path = anchored_path(observed_total, blend.anchors, years)
        base = np.where(years > last, (1.0 - blend.weight) * base + blend.weight * path, base)
    trend = base * np.where(years > last, multiplier, 1.0)
    is_hist = np.isin(years, hist_years)
    total_only = np.array([observed_total.get(int(y), np.nan) for y in years])
    out = {}
    for name, share in shares.items():
        observed = np.array([split.get(name, {}).get(int(y), np.nan) for y in years])
        observed = np.where(np.isnan(observed), total_only * share, observed)
        out[name] = (np.where(is_hist & ~np.isnan(observed), observed, trend * share), is_hist)
    return out


def ev_car_sales_arrays(
    history: pd.DataFrame, params: ParamSet, years: np.ndarray, trend: pd.DataFrame | None = None
) -> FlaggedArrays:
    """Electric car sales by powertrain [vehicles/yr], world, with a history flag per year.

    The world total is fitted with a logistic capped at drivers.ev_car_market_cap, blended with the
    IEA STEPS path (drivers.ev_car_sales_steps) by drivers.ev_car_steps_weight, and split by
    ev.phev_share_of_sales; observed years keep their data (a year given only as a total is split
    by the same share).
    """
    phev = P.value(params, "ev.phev_share_of_sales", years)
    steps = PathBlend(
        params["drivers.ev_car_sales_steps"].trajectory or {},
        P.value(params, "drivers.ev_car_steps_weight", years),
    )
    return _split_projection(
        world_history(history, "powertrain"),
        P.scalar(params, "drivers.ev_car_market_cap"),
        P.value(params, "drivers.ev_sales_multiplier", years),
        {"BEV": 1.0 - phev, "PHEV": phev},
        years,
        trend,
        steps,
    )


def wind_installation_arrays(
    history: pd.DataFrame, params: ParamSet, years: np.ndarray, trend: pd.DataFrame | None = None
) -> FlaggedArrays:
    """Wind installations by location [GW/yr], world: logistic on the total, split by offshore share."""
    off = P.value(params, "wind.offshore_share", years)
    return _split_projection(
        world_history(history, "location"),
        P.scalar(params, "drivers.wind_cap_gw_per_yr"),
        P.value(params, "drivers.wind_installs_multiplier", years),
        {"onshore": 1.0 - off, "offshore": off},
        years,
        trend,
    )


def commercial_sales_arrays(history: pd.DataFrame, params: ParamSet, years: np.ndarray) -> FlaggedArrays:
    """Electric buses, trucks and vans sold [vehicles/yr], world, with a history flag per year.

    Observed years keep their data. After the last one, sales run linearly to the anchors of
    ``drivers.ev_commercial_sales.<mode>`` (IEA STEPS 2030 and 2035, then a sourced long-run anchor),
    held after the last anchor, times the scenario's drivers.ev_sales_multiplier.
    """
    world = world_history(history, "mode")
    multiplier = P.value(params, "drivers.ev_sales_multiplier", years)
    out: FlaggedArrays = {}
    for mode in COMMERCIAL_MODES:
        observed = world.get(mode, {})
        anchors = params[f"drivers.ev_commercial_sales.{mode}"].trajectory or {}
        projected = anchored_path(observed, anchors, years) * multiplier
        is_hist = np.array([int(y) in observed for y in years], dtype=bool)
        history = np.array([observed.get(int(y), 0.0) for y in years], dtype=float)
        out[mode] = (np.where(is_hist, history, projected), is_hist)
    return out


def driver_arrays(
    histories: Mapping[str, pd.DataFrame],
    params: ParamSet,
    years: np.ndarray,
    trends: dict[str, pd.DataFrame] | None = None,
) -> dict[str, np.ndarray]:
    """Driver values by name ("ev_car_sales.BEV", "ev_commercial_sales.bus", "wind_installs.onshore", ...)."""
    flagged = _flagged(histories, params, years, trends)
    return {f"{prefix}.{k}": v for prefix, _, arrays in flagged for k, (v, _) in arrays.items()}


def _flagged(
    histories: Mapping[str, pd.DataFrame],
    params: ParamSet,
    years: np.ndarray,
    trends: dict[str, pd.DataFrame] | None,
) -> list[tuple[str, str, FlaggedArrays]]:
    t = trends or {}
    return [
        (
            "ev_car_sales",
            "vehicles",
            ev_car_sales_arrays(histories["ev_car_sales"], params, years, t.get("ev_car_sales")),
        ),
        ("ev_commercial_sales", "vehicles", commercial_sales_arrays(histories["ev_commercial_sales"], params, years)),
        (
            "wind_installs",
            "GW",
            wind_installation_arrays(histories["wind_installations"], params, years, t.get("wind_installations")),
        ),
    ]


def project_drivers(
    histories: Mapping[str, pd.DataFrame],
    params: ParamSet,
    years: np.ndarray,
    trends: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """All drivers as one tidy table (year, driver, value, unit, kind)."""
    frames = [
        pd.DataFrame(
            {
                "year": years,
                "driver": f"{prefix}.{name}",
                "value": vals,
                "unit": unit,
                "kind": np.where(is_hist, "history", "projection"),
            }
        )
        for prefix, unit, arrays in _flagged(histories, params, years, trends)
        for name, (vals, is_hist) in arrays.items()
    ]
    return pd.concat(frames, ignore_index=True)
