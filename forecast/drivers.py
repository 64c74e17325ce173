"""Driver projections: the units the world publishes, history then a projection.

- Cars: the world light-vehicle market (published, then a smooth path through sourced anchors) times
  the electric share (published, then a logistic with a sourced saturation), split into BEV and
  PHEV; non-plug-in cars and hybrids are the rest of the market.
- Wind installations: the backtested ensemble (:mod:`forecast.backtest`) or a capped logistic.
- Electric buses, trucks and vans: IEA history, then straight lines to the IEA STEPS anchors.
- Unit drivers (robots, compressors, drives, e-two-wheelers, ...): published history, then a smooth
  path through sourced or stated anchors (:func:`smooth_path`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from forecast import params as parameters
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


def smooth_path(
    observed: Mapping[int, float], anchors: Mapping[int, float], years: np.ndarray, tail: int
) -> np.ndarray:
    """Cached :func:`compute_smooth_path` (scenarios and what-if requests share most driver paths)."""
    return _smooth_path_cached(
        tuple(sorted(observed.items())), tuple(sorted(anchors.items())), tuple(int(y) for y in years), tail
    )


@lru_cache(maxsize=1024)
def _smooth_path_cached(
    observed: tuple[tuple[int, float], ...], anchors: tuple[tuple[int, float], ...], years: tuple[int, ...], tail: int
) -> np.ndarray:
    out = compute_smooth_path(dict(observed), dict(anchors), np.array(years), tail)
    out.setflags(write=False)
    return out


def compute_smooth_path(
    observed: Mapping[int, float], anchors: Mapping[int, float], years: np.ndarray, tail: int
) -> np.ndarray:
    """Observed values, and a smooth path through the published or stated anchors elsewhere [unit of the values].

    The path is a monotone cubic (PCHIP) through the logarithms of the anchors outside the observed
    years, the first observation and the last ``tail`` observations, so growth carries on from history
    without a jump and changes gradually between anchors; it is held flat beyond its first and last
    points. A driver with neither history nor an anchor before a year is zero there (the product did
    not sell). Values that are zero anywhere fall back to PCHIP on the values themselves.
    """
    knots: dict[int, float] = dict(anchors)
    if observed:
        first, last = min(observed), max(observed)
        knots = {y: v for y, v in knots.items() if y < first or y > last}
        knots |= {first: observed[first]} | dict(sorted(observed.items())[-tail:])
    if not knots:
        return np.zeros(len(years))
    xs = np.array(sorted(knots), dtype=float)
    ys = np.array([knots[int(x)] for x in xs], dtype=float)
    path = (
        np.exp(parameters.smooth_through(xs, np.log(ys), years))
        if np.all(ys > 0)
        else parameters.smooth_through(xs, ys, years)
    )
    hist = np.array([observed.get(int(y), np.nan) for y in years], dtype=float)
    out = np.where(np.isnan(hist), path, hist)
    return np.where(years < xs[0], 0.0 if not observed else out, out)


def observed_world(history: pd.DataFrame, key: str, part: str) -> dict[int, float]:
    """One world series of a history table as {year: value} (empty if absent)."""
    return world_history(history, key).get(part, {})


def logistic_share(observed: Mapping[int, float], saturation: float, fit_years: int, years: np.ndarray) -> np.ndarray:
    """Adoption share by year [fraction]: observed, then a logistic with a sourced saturation.

    The rate is the least-squares slope of ``logit(share / saturation)`` over the last ``fit_years``
    observations; the curve passes through the last observed share, so the projection starts where
    history ends. Before the first observation the same curve is run backwards.
    """
    obs = {y: v for y, v in observed.items() if 0 < v < saturation}
    if not obs:
        raise ValueError("need at least one observed share strictly between 0 and the saturation")
    ys_sorted = sorted(obs)[-max(fit_years, 2) :]
    t = np.array(ys_sorted, dtype=float)
    logit = np.log(
        np.array([obs[int(y)] / saturation for y in t]) / (1 - np.array([obs[int(y)] / saturation for y in t]))
    )
    rate = float(np.polyfit(t, logit, 1)[0]) if len(t) >= 2 else 0.0
    rate = max(rate, 0.0)
    last = int(t[-1])
    level = logit[-1] + rate * (years.astype(float) - last)
    curve = saturation / (1.0 + np.exp(-level))
    hist = np.array([observed.get(int(y), np.nan) for y in years], dtype=float)
    return np.where(np.isnan(hist), curve, hist)


def car_arrays(car_units: pd.DataFrame, ev_history: pd.DataFrame, params: ParamSet, years: np.ndarray) -> FlaggedArrays:
    """World light-vehicle market and its electric part [vehicles/yr], with history flags.

    market: published history, then a smooth path through ``drivers.car_sales.anchors``.
    electric share = electric / market: published history, then a logistic with the sourced
    saturation ``drivers.ev_share.saturation`` fitted over ``drivers.ev_share.fit_years``, times the
    scenario's ``drivers.ev_sales_multiplier`` (never above the saturation), optionally blended with
    the IEA STEPS sales path (``drivers.ev_car_steps_weight``). BEV and PHEV: published split where
    known, else ``ev.phev_share_of_sales``. HEV (non-plug-in hybrids): ``car.hev_share_of_sales`` of
    the market, never more than the non-plug-in cars.
    """
    tail = int(parameters.scalar(params, "drivers.smooth_tail_years"))
    market_obs = observed_world(car_units, "driver", "car_sales")
    market = smooth_path(market_obs, params["drivers.car_sales.anchors"].trajectory or {}, years, tail)
    parts = world_history(ev_history, "powertrain")
    ev_total_obs = dict(parts.get(TOTAL, {}))
    for pt in ("BEV", "PHEV"):
        for y, v in parts.get(pt, {}).items():
            ev_total_obs[y] = ev_total_obs.get(y, 0.0) + v
    share_obs = {y: v / market_obs[y] for y, v in ev_total_obs.items() if market_obs.get(y, 0) > 0}
    saturation = parameters.scalar(params, "drivers.ev_share.saturation")
    share = logistic_share(share_obs, saturation, int(parameters.scalar(params, "drivers.ev_share.fit_years")), years)
    last = max(ev_total_obs)
    is_hist = np.isin(years, list(ev_total_obs))
    projected = years > last
    share = np.where(
        projected, np.minimum(share * parameters.value(params, "drivers.ev_sales_multiplier", years), saturation), share
    )
    ev_total = np.where(is_hist, [ev_total_obs.get(int(y), 0.0) for y in years], share * market)
    steps_weight = parameters.value(params, "drivers.ev_car_steps_weight", years)
    steps = anchored_path(ev_total_obs, params["drivers.ev_car_sales_steps"].trajectory or {}, years)
    ev_total = np.where(projected, (1.0 - steps_weight) * ev_total + steps_weight * steps, ev_total)
    ev_total = np.minimum(ev_total, market * saturation)
    phev_share = parameters.value(params, "ev.phev_share_of_sales", years)
    split_obs = {pt: np.array([parts.get(pt, {}).get(int(y), np.nan) for y in years]) for pt in ("BEV", "PHEV")}
    phev = np.where(np.isnan(split_obs["PHEV"]), ev_total * phev_share, split_obs["PHEV"])
    bev = np.where(np.isnan(split_obs["BEV"]), ev_total * (1.0 - phev_share), split_obs["BEV"])
    non_plugin = np.maximum(market - ev_total, 0.0)
    hev = np.minimum(market * parameters.value(params, "car.hev_share_of_sales", years), non_plugin)
    market_hist = np.isin(years, list(market_obs))
    return {
        "market": (market, market_hist),
        "BEV": (bev, is_hist),
        "PHEV": (phev, is_hist),
        "electric": (ev_total, is_hist),
        "non_plugin": (non_plugin, market_hist & is_hist),
        "HEV": (hev, np.zeros(len(years), dtype=bool)),
    }


def _car_groups(cars: FlaggedArrays) -> list[tuple[str, str, FlaggedArrays]]:
    """Electric car sales by powertrain (``ev_car_sales.BEV``, ``.PHEV``) and the market around them (``cars.*``)."""
    ev = {k: cars[k] for k in ("BEV", "PHEV")}
    rest = {k: v for k, v in cars.items() if k not in ev}
    return [("ev_car_sales", "vehicles", ev), ("cars", "vehicles", rest)]


def unit_driver_arrays(units: pd.DataFrame, names: Sequence[str], params: ParamSet, years: np.ndarray) -> FlaggedArrays:
    """Unit drivers (robots, compressors, drives, e-two-wheelers...) [units/yr], world, with history flags.

    Each is its published history, then a smooth path through ``drivers.<name>.anchors``.
    """
    tail = int(parameters.scalar(params, "drivers.smooth_tail_years"))
    world = world_history(units, "driver")
    out: FlaggedArrays = {}
    for name in names:
        obs = world.get(name, {})
        anchors = params[f"drivers.{name}.anchors"].trajectory or {}
        out[name] = (smooth_path(obs, anchors, years, tail), np.isin(years, list(obs)))
    return out


def wind_installation_arrays(
    history: pd.DataFrame, params: ParamSet, years: np.ndarray, trend: pd.DataFrame | None = None
) -> FlaggedArrays:
    """Wind installations by location [GW/yr], world: logistic on the total, split by offshore share."""
    off = parameters.value(params, "wind.offshore_share", years)
    return _split_projection(
        world_history(history, "location"),
        parameters.scalar(params, "drivers.wind_cap_gw_per_yr"),
        parameters.value(params, "drivers.wind_installs_multiplier", years),
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
    multiplier = parameters.value(params, "drivers.ev_sales_multiplier", years)
    out: FlaggedArrays = {}
    for mode in COMMERCIAL_MODES:
        observed = world.get(mode, {})
        anchors = params[f"drivers.ev_commercial_sales.{mode}"].trajectory or {}
        projected = anchored_path(observed, anchors, years) * multiplier
        is_hist = np.array([int(y) in observed for y in years], dtype=bool)
        observed_t = np.array([observed.get(int(y), 0.0) for y in years], dtype=float)
        out[mode] = (np.where(is_hist, observed_t, projected), is_hist)
    return out


def driver_arrays(
    histories: Mapping[str, pd.DataFrame],
    params: ParamSet,
    years: np.ndarray,
    trends: dict[str, pd.DataFrame] | None = None,
    unit_drivers: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Driver values by name ("cars.BEV", "ev_commercial_sales.bus", "wind_installs.onshore", "units.x", ...).

    unit_drivers: name -> unit of the unit drivers the structure declares (``structure.unit_drivers``).
    """
    flagged = _flagged(histories, params, years, trends, unit_drivers or {})
    return {f"{prefix}.{k}": v for prefix, _, arrays in flagged for k, (v, _) in arrays.items()}


def _flagged(
    histories: Mapping[str, pd.DataFrame],
    params: ParamSet,
    years: np.ndarray,
    trends: dict[str, pd.DataFrame] | None,
    unit_drivers: Mapping[str, str],
) -> list[tuple[str, str, FlaggedArrays]]:
    t = trends or {}
    units = histories["unit_sales"]
    out: list[tuple[str, str, FlaggedArrays]] = [
        *_car_groups(car_arrays(units, histories["ev_car_sales"], params, years)),
        ("ev_commercial_sales", "vehicles", commercial_sales_arrays(histories["ev_commercial_sales"], params, years)),
        (
            "wind_installs",
            "GW",
            wind_installation_arrays(histories["wind_installations"], params, years, t.get("wind_installations")),
        ),
    ]
    arrays = unit_driver_arrays(units, list(unit_drivers), params, years)
    for name, unit in unit_drivers.items():
        out.append(("units", unit, {name: arrays[name]}))
    return out


def project_drivers(
    histories: Mapping[str, pd.DataFrame],
    params: ParamSet,
    years: np.ndarray,
    trends: dict[str, pd.DataFrame] | None = None,
    unit_drivers: Mapping[str, str] | None = None,
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
        for prefix, unit, arrays in _flagged(histories, params, years, trends, unit_drivers or {})
        for name, (vals, is_hist) in arrays.items()
    ]
    return pd.concat(frames, ignore_index=True)
