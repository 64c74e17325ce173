"""Monte Carlo bands: driver and parameter uncertainty propagated to demand quantiles.

Dependence structure (stated, and tested):

- Drivers: one standard normal draw per driver family and path (electrification, wind), independent
  of each other and constant over the years of a path, so a path stays at the same quantile of the
  ensemble's 95% interval through time (log-normal spread taken from that interval). History years
  do not vary. Electric cars, buses, trucks and vans move with the electrification draw (one pace of
  electrification); the car market does not, so non-plug-in cars are the market less the path's
  electric cars. Electric cars never exceed the market times the saturation share, wind never its
  cap: the multiplier is clipped there.
- Parameters: one draw per parameter and path from a triangular distribution on the parameter's
  sourced range [low, high] with its mode at the scenario's (calibrated) value, constant over years,
  independent across parameters.
- The calibration applies to the central path: modes are the calibrated values.

The paths run through the same model functions as the deterministic forecast
(:func:`forecast.model.demand_series`): parameters broadcast as (paths, 1) columns, drivers as
(paths, years) arrays. Quantiles are taken per year, segment, material, basis and unit.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from forecast import params as parameters
from forecast.driver_models import z_of
from forecast.drivers import driver_arrays, project_drivers
from forecast.model import demand_series, unit_driver_units
from forecast.params import DrawnParams, ParamSet
from forecast.schemas import Assumptions

QUANTILES: tuple[float, ...] = (0.05, 0.10, 0.50, 0.90, 0.95)
QUANTILE_COLUMNS: tuple[str, ...] = ("p5", "p10", "p50", "p90", "p95")
DEFAULT_PATHS = 10_000
DRIVER_KEYS: dict[str, str] = {"ev": "ev_car_sales", "wind": "wind_installations"}
QUANTILE_THREADS = 2  # numpy's partition releases the GIL: two threads halve the quantile time


@dataclass(frozen=True)
class Draws:
    """Random inputs of a Monte Carlo run: driver normals (paths,) and parameter values (paths,)."""

    z: dict[str, np.ndarray]
    values: dict[str, np.ndarray]


UNCERTAIN_PREFIXES: tuple[str, ...] = (
    "ev.motor_kg.",
    "ev.motors_per_vehicle.",
    "wind.t_per_mw.",
    "composition.",
    "manufacturing.",
    "refining.",
)


def uncertain_parameters(a: Assumptions, params: ParamSet) -> list[str]:
    """Constant parameters with a non-degenerate sourced range that the demand model reads.

    Magnet intensities of every segment, motors per vehicle, wind t/MW, composition, yields; a range
    with low == high is a known value and is not drawn.
    """
    names = [n for n in params if n.startswith(UNCERTAIN_PREFIXES)]
    names += [str(seg.intensity) for seg in a.structure.segments.values() if seg.intensity]
    names += [n for n in params if n.startswith("other.") and n.endswith((".base_t", ".growth_per_yr"))]
    out = []
    for n in dict.fromkeys(names):
        p = params.get(n)
        if p is not None and p.value is not None and p.high > p.low:
            out.append(n)
    return out


def draw(a: Assumptions, params: ParamSet, n_paths: int, seed: int) -> Draws:
    """All random inputs, reproducible from the seed."""
    rng = np.random.default_rng(seed)
    z = {k: rng.standard_normal(n_paths) for k in DRIVER_KEYS}
    values = {}
    for name in uncertain_parameters(a, params):
        p = params[name]
        values[name] = rng.triangular(p.low, float(p.value), p.high, n_paths)
    return Draws(z, values)


def _sigma_log(trend: pd.DataFrame | None, years: np.ndarray, last_hist: int) -> np.ndarray:
    """Log-scale spread of the ensemble projection by year, from its 95% interval; 0 for history."""
    if trend is None or not len(trend):
        return np.zeros(years.shape)
    t = trend.set_index("year").reindex(years)
    lo, hi = t["lo_95"].to_numpy(dtype=float), t["hi_95"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (np.log(hi) - np.log(lo)) / (2 * z_of(95))
    s = np.where(np.isfinite(s) & (years > last_hist), s, 0.0)
    return s


DTYPE = np.float32  # paths are summarised by quantiles: single precision is ample and twice as fast


DRIVER_FAMILY: dict[str, str] = {
    "ev_car_sales.BEV": "ev",
    "ev_car_sales.PHEV": "ev",
    "cars.electric": "ev",
    "ev_commercial_sales.bus": "ev",
    "ev_commercial_sales.truck": "ev",
    "ev_commercial_sales.van": "ev",
    "wind_installs.onshore": "wind",
    "wind_installs.offshore": "wind",
}


def driver_sigmas(a: Assumptions, years: np.ndarray) -> dict[str, np.ndarray]:
    """Log-scale spread by year of each driver family (0 up to its last observed year)."""
    return {
        "ev": _sigma_log(a.driver_trends.get("ev_car_sales"), years, int(a.ev_car_sales["year"].max())),
        "wind": _sigma_log(a.driver_trends.get("wind_installations"), years, int(a.wind_installations["year"].max())),
    }


def driver_ceilings(drivers: dict[str, np.ndarray], params: ParamSet) -> dict[str, np.ndarray]:
    """Largest multiplier by year that keeps a family's total at or below its sourced cap.

    Electric cars stay within the car market times the saturation share; wind within its cap.
    """
    saturation = parameters.scalar(params, "drivers.ev_share.saturation")
    wind = drivers["wind_installs.onshore"] + drivers["wind_installs.offshore"]
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "ev": np.where(
                drivers["cars.electric"] > 0, drivers["cars.market"] * saturation / drivers["cars.electric"], np.inf
            ),
            "wind": np.where(wind > 0, parameters.scalar(params, "drivers.wind_cap_gw_per_yr") / wind, np.inf),
        }


def path_drivers(drivers: dict[str, np.ndarray], multipliers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Drivers on every path: family multipliers (paths, years) applied, the car market kept whole.

    Non-plug-in cars are the market less the electric cars of the path; hybrids never exceed them.
    """
    out = dict(drivers)
    for name, family in DRIVER_FAMILY.items():
        out[name] = drivers[name][None, :] * multipliers[family]
    out["cars.non_plugin"] = np.maximum(drivers["cars.market"][None, :] - out["cars.electric"], 0.0)
    out["cars.HEV"] = np.minimum(drivers["cars.HEV"][None, :], out["cars.non_plugin"])
    return out


def simulate(
    a: Assumptions,
    params: ParamSet,
    years: np.ndarray,
    n_paths: int = DEFAULT_PATHS,
    seed: int = 0,
    draws: Draws | None = None,
) -> dict[tuple[str, str, str, str], np.ndarray]:
    """Paths of demand [t/yr] by (segment, material, basis, unit), shape (paths, years), plus a 'total' segment.

    The same model as the deterministic forecast (:func:`forecast.model.demand_series`) evaluated
    with drawn parameters and drivers over a paths axis.
    """
    d = draws if draws is not None else draw(a, params, n_paths, seed)
    base = driver_arrays(a.histories(), params, years, a.driver_trends, unit_driver_units(a))
    sigma = driver_sigmas(a, years)
    ceiling = driver_ceilings(base, params)
    multipliers = {
        family: np.minimum(np.exp(d.z[family][:, None] * sigma[family][None, :]), ceiling[family])
        for family in DRIVER_KEYS
    }
    drawn = DrawnParams(params, d.values)
    series = demand_series(a, drawn, years, path_drivers(base, multipliers))
    out = {k: np.broadcast_to(v, (n_paths, len(years))).astype(DTYPE) for k, v in series.items()}
    totals: dict[tuple[str, str, str, str], np.ndarray] = {}
    for (_, material, basis, unit), v in out.items():
        key = ("total", material, basis, unit)
        totals[key] = totals[key] + v if key in totals else v.copy()
    return out | totals


def driver_quantile_table(a: Assumptions, params: ParamSet, scenario: str, years: np.ndarray) -> pd.DataFrame:
    """Drivers with the Monte Carlo's bands: year, scenario, driver, unit, kind, value, p5 .. p95.

    Every path multiplies a driver by exp(z sigma_year) (see the module docstring), so its quantiles
    are the value times exp(z_q sigma_year): the bands the demand paths are drawn from, in closed form.
    History years carry no spread.
    """
    table = project_drivers(a.histories(), params, years, a.driver_trends, unit_driver_units(a))
    # project_drivers lists each driver over all years in order: the same arrays driver_arrays gives
    arrays = {name: g["value"].to_numpy(dtype=float) for name, g in table.groupby("driver", sort=False)}
    sigma = driver_sigmas(a, years)
    ceiling = driver_ceilings(arrays, params)
    names = table["driver"].to_numpy()
    pos = np.searchsorted(years, table["year"].to_numpy())
    s = np.zeros(len(table))
    top = np.full(len(table), np.inf)
    for name, family in DRIVER_FAMILY.items():
        s = np.where(names == name, sigma[family][pos], s)
        top = np.where(names == name, ceiling[family][pos], top)
    s = np.where(table["kind"].to_numpy() == "history", 0.0, s)
    value = table["value"].to_numpy(dtype=float)
    for q, col in zip(QUANTILES, QUANTILE_COLUMNS, strict=True):
        # min(multiplier, ceiling) is monotone, so its quantile is the capped quantile
        table[col] = value * np.minimum(np.exp(float(norm.ppf(q)) * s), top)
    return table.assign(scenario=scenario)[["year", "scenario", "driver", "unit", "kind", "value", *QUANTILE_COLUMNS]]


def quantile_table(
    a: Assumptions, params: ParamSet, scenario: str, years: np.ndarray, n_paths: int = DEFAULT_PATHS, seed: int = 0
) -> pd.DataFrame:
    """Tidy quantiles: year, scenario, segment, material, basis, unit, p5, p10, p50, p90, p95 [t/yr]."""
    paths = simulate(a, params, years, n_paths, seed)
    keys = list(paths)
    n = len(years)
    q = nearest_rank_quantiles(paths, keys, n_paths).reshape(len(keys), n, len(QUANTILES))
    frame = {
        "year": np.tile(years, len(keys)),
        "scenario": scenario,
        "segment": np.repeat([k[0] for k in keys], n),
        "material": np.repeat([k[1] for k in keys], n),
        "basis": np.repeat([k[2] for k in keys], n),
        "unit": np.repeat([k[3] for k in keys], n),
    }
    for i, col in enumerate(QUANTILE_COLUMNS):
        frame[col] = q[:, :, i].reshape(-1).astype(float)
    return pd.DataFrame(frame)


def nearest_rank_quantiles(
    paths: dict[tuple[str, str, str, str], np.ndarray], keys: list[tuple[str, str, str, str]], n_paths: int
) -> np.ndarray:
    """Nearest-rank P5..P95 of every (series, year) column: (series x years, 5), by partial sorting."""
    rows = np.concatenate([paths[k].T for k in keys])  # (series*years, paths), float32, our own copy
    ranks = [round(p * (n_paths - 1)) for p in QUANTILES]

    def part(block: np.ndarray) -> np.ndarray:
        block.partition(ranks, axis=1)  # in place: rows is a private copy, so no second copy is needed
        return block[:, ranks]

    with ThreadPoolExecutor(QUANTILE_THREADS) as pool:
        return np.vstack(list(pool.map(part, np.array_split(rows, QUANTILE_THREADS))))
