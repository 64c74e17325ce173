"""Monte Carlo bands: driver and parameter uncertainty propagated to demand quantiles.

Dependence structure (stated, and tested):

- Drivers: one standard normal draw per driver and path (electric cars, wind), independent of each
  other and constant over the years of a path, so a path stays at the same quantile of the ensemble's
  95% interval through time (log-normal spread taken from that interval). History years do not vary.
  Electric buses, trucks and vans move with the electric-car draw (one pace of electrification).
  Electric cars and wind never exceed their sourced market caps on a path: the multiplier is clipped
  where the total would pass the cap.
- Parameters: one draw per parameter and path from a triangular distribution on the parameter's
  sourced range [low, high] with its mode at the scenario's (calibrated) value, constant over years,
  independent across parameters.
- The calibration applies to the central path: modes are the calibrated values.

Everything is vectorised over paths x years; quantiles are taken per year, segment, material and unit.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from forecast import params as P
from forecast.composition import HEAVY_RARE_EARTHS, oxide_per_metal
from forecast.demand import EV_KINDS, ev_demand_t, ev_segment_inputs, trend_demand_t, wind_demand_t, wind_t_per_mw
from forecast.driver_models import z_of
from forecast.drivers import driver_arrays, project_drivers
from forecast.params import ParamSet
from forecast.schemas import ELEMENTS, Assumptions

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


def uncertain_parameters(a: Assumptions, params: ParamSet) -> list[str]:
    """Constant parameters with a non-degenerate sourced range that the demand model reads."""
    names = ["ev.motor_kg", "manufacturing.magnet_yield", "refining.oxide_to_metal_yield"]
    names += [n for n in params if n.startswith(("ev.motors_per_vehicle.", "wind.t_per_mw.", "composition."))]
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


def _param(d: Draws, params: ParamSet, name: str, years: np.ndarray) -> np.ndarray:
    """(paths, 1) draws of an uncertain constant, (1, 1) of a fixed one, or (1, years) of a trajectory."""
    if name in d.values:
        return d.values[name].astype(DTYPE)[:, None]
    p = params[name]
    if p.value is not None:  # a constant with a degenerate range (low == high): (1, 1), like a draw
        return np.full((1, 1), p.value, dtype=DTYPE)
    return P.value(params, name, years).astype(DTYPE)[None, :]


def _compound(g: np.ndarray, g_long: float, years: np.ndarray, base_year: int, taper: int) -> np.ndarray:
    """(1 + g)^(min(y, taper) - base) x (1 + g_long)^max(0, y - taper), shape (paths, years).

    For consecutive years this is the first year's value times a running product (cheaper than powers).
    """
    if len(years) < 2 or not np.all(np.diff(years) == 1):
        return trend_demand_t(1.0, g, years, base_year, taper, g_long)
    y0 = int(years[0])
    first = np.power(1.0 + g, float(min(y0, taper) - base_year)) * DTYPE((1.0 + g_long) ** max(0, y0 - taper))
    step = (years[1:] > taper)[None, :]
    factors = np.where(step, DTYPE(1.0 + g_long), 1.0 + g)  # growth from the previous year
    return first * np.concatenate([np.ones_like(first), np.cumprod(factors, axis=1)], axis=1)


DRIVER_FAMILY: dict[str, str] = {"ev_car_sales": "ev", "ev_commercial_sales": "ev", "wind_installs": "wind"}
DRIVER_CAPS: dict[str, str] = {
    "ev_car_sales": "drivers.ev_car_market_cap",
    "wind_installs": "drivers.wind_cap_gw_per_yr",
}


def driver_sigmas(a: Assumptions, years: np.ndarray) -> dict[str, np.ndarray]:
    """Log-scale spread by year of each driver family (0 up to its last observed year)."""
    return {
        "ev": _sigma_log(a.driver_trends.get("ev_car_sales"), years, int(a.ev_car_sales["year"].max())),
        "wind": _sigma_log(a.driver_trends.get("wind_installations"), years, int(a.wind_installations["year"].max())),
    }


def driver_ceilings(drivers: dict[str, np.ndarray], params: ParamSet) -> dict[str, np.ndarray]:
    """Largest multiplier by year that keeps a capped driver family's total at or below its sourced cap."""
    out = {}
    for prefix, cap_name in DRIVER_CAPS.items():
        total = sum(v for k, v in drivers.items() if k.startswith(prefix + "."))
        with np.errstate(divide="ignore"):
            out[prefix] = np.where(total > 0, P.scalar(params, cap_name) / total, np.inf)
    return out


def simulate(
    a: Assumptions, params: ParamSet, years: np.ndarray, n_paths: int = DEFAULT_PATHS, seed: int = 0
) -> dict[tuple[str, str, str], np.ndarray]:
    """Paths of demand [t/yr] by (segment, material, unit): arrays of shape (paths, years)."""
    d = draw(a, params, n_paths, seed)
    base_drivers = driver_arrays(a.histories(), params, years, a.driver_trends)
    sigma = driver_sigmas(a, years)
    ceiling = driver_ceilings(base_drivers, params)
    # One multiplier per family and path; capped families never exceed their market (cars, wind).
    mult = {
        prefix: np.minimum(
            np.exp(d.z[family].astype(DTYPE)[:, None] * sigma[family].astype(DTYPE)[None, :]),
            ceiling.get(prefix, np.inf),
        ).astype(DTYPE)
        for prefix, family in DRIVER_FAMILY.items()
    }
    base_year = a.model.calibration.base_year
    taper = int(P.scalar(params, "other.growth_taper_year"))
    g_long = P.scalar(params, "other.long_run_growth_per_yr")
    magnets: dict[str, np.ndarray] = {}
    for name, seg in a.structure.segments.items():
        if seg.kind in EV_KINDS:
            driver, motors = ev_segment_inputs(seg)
            magnets[name] = ev_demand_t(
                base_drivers[driver].astype(DTYPE)[None, :] * mult[driver.split(".")[0]],
                _param(d, params, motors, years),
                _param(d, params, "ev.pm_motor_share", years),
                _param(d, params, "ev.motor_kg", years) * _param(d, params, "ev.motor_kg_factor", years),
            )
        elif seg.kind == "wind":
            installs = base_drivers[f"wind_installs.{seg.location}"].astype(DTYPE)[None, :] * mult["wind_installs"]
            t_mw = wind_t_per_mw(
                {dt: _param(d, params, f"wind.{seg.location}.share.{dt}", years) for dt in P.DRIVETRAINS},
                {dt: _param(d, params, f"wind.t_per_mw.{dt}", years) for dt in P.PM_DRIVETRAINS},
            )
            magnets[name] = wind_demand_t(installs, t_mw)
        else:
            base_t = _param(d, params, f"other.{name}.base_t", years)
            g = _param(d, params, f"other.{name}.growth_per_yr", years)
            magnets[name] = base_t * _compound(g, g_long, years, base_year, taper)

    magnet_yield = _param(d, params, "manufacturing.magnet_yield", years)
    reduction = _param(d, params, "refining.oxide_to_metal_yield", years)
    o_weight = P.scalar(params, "chem.atomic_weight.O")
    heavy = P.value(params, "composition.heavy_re_factor", years).astype(DTYPE)[None, :]
    to_oxide_per_factor = 1.0 / (magnet_yield * reduction)  # (paths, 1)
    # Per grade and element, the contained fraction and the oxide multiplier do not depend on the segment.
    fractions = {}
    for grade in {seg.grade for seg in a.structure.segments.values()}:
        for el in ELEMENTS:
            frac = _param(d, params, f"composition.{grade}.{el}", years)
            fractions[(grade, el)] = frac * heavy if el in HEAVY_RARE_EARTHS else frac
    to_oxide = {
        el: to_oxide_per_factor
        * DTYPE(oxide_per_metal(a.structure.elements[el], P.scalar(params, f"chem.atomic_weight.{el}"), o_weight))
        for el in ELEMENTS
    }
    # Every output lives in one preallocated block, written in place: no temporary per product or sum.
    materials = [("NdFeB", "t_magnet"), *((el, u) for el in ELEMENTS for u in ("t_magnet", "t_oxide"))]
    keys = [(name, m, u) for name in [*magnets, "total"] for m, u in materials]
    block = np.empty((len(keys), n_paths, len(years)), dtype=DTYPE)
    at = {k: i for i, k in enumerate(keys)}
    for name, mag in magnets.items():
        block[at[(name, "NdFeB", "t_magnet")]] = mag
        grade = a.structure.segments[name].grade
        for el in ELEMENTS:
            contained = block[at[(name, el, "t_magnet")]]
            np.multiply(mag, fractions[(grade, el)], out=contained)
            np.multiply(contained, to_oxide[el], out=block[at[(name, el, "t_oxide")]])
    for m, u in materials:
        np.sum(block[[at[(name, m, u)] for name in magnets]], axis=0, out=block[at[("total", m, u)]])
    out = {k: block[i] for k, i in at.items()}
    return out


def driver_quantile_table(a: Assumptions, params: ParamSet, scenario: str, years: np.ndarray) -> pd.DataFrame:
    """Drivers with the Monte Carlo's bands: year, scenario, driver, unit, kind, value, p5 .. p95.

    Every path multiplies a driver by exp(z sigma_year) (see the module docstring), so its quantiles
    are the value times exp(z_q sigma_year): the bands the demand paths are drawn from, in closed form.
    History years carry no spread.
    """
    table = project_drivers(a.histories(), params, years, a.driver_trends)
    # project_drivers lists each driver over all years in order: the same arrays driver_arrays gives
    arrays = {name: g["value"].to_numpy(dtype=float) for name, g in table.groupby("driver", sort=False)}
    sigma = driver_sigmas(a, years)
    ceiling = driver_ceilings(arrays, params)
    prefix = table["driver"].str.split(".").str[0].to_numpy()
    pos = np.searchsorted(years, table["year"].to_numpy())
    s = np.zeros(len(table))
    for p, family in DRIVER_FAMILY.items():
        s = np.where(prefix == p, sigma[family][pos], s)
    s = np.where(table["kind"].to_numpy() == "history", 0.0, s)
    top = np.full(len(table), np.inf)
    for p, c in ceiling.items():
        top = np.where(prefix == p, c[pos], top)
    value = table["value"].to_numpy(dtype=float)
    for q, col in zip(QUANTILES, QUANTILE_COLUMNS, strict=True):
        # min(multiplier, ceiling) is monotone, so its quantile is the capped quantile
        table[col] = value * np.minimum(np.exp(float(norm.ppf(q)) * s), top)
    return table.assign(scenario=scenario)[["year", "scenario", "driver", "unit", "kind", "value", *QUANTILE_COLUMNS]]


def quantile_table(
    a: Assumptions, params: ParamSet, scenario: str, years: np.ndarray, n_paths: int = DEFAULT_PATHS, seed: int = 0
) -> pd.DataFrame:
    """Tidy quantiles: year, scenario, segment, material, unit, p5, p10, p50, p90, p95 [t/yr]."""
    paths = simulate(a, params, years, n_paths, seed)
    keys = list(paths)
    n = len(years)
    q = nearest_rank_quantiles(paths, keys, n_paths).reshape(len(keys), n, len(QUANTILES))
    frame = {
        "year": np.tile(years, len(keys)),
        "scenario": scenario,
        "segment": np.repeat([k[0] for k in keys], n),
        "material": np.repeat([k[1] for k in keys], n),
        "unit": np.repeat([k[2] for k in keys], n),
    }
    for i, col in enumerate(QUANTILE_COLUMNS):
        frame[col] = q[:, :, i].reshape(-1).astype(float)
    return pd.DataFrame(frame)


def nearest_rank_quantiles(
    paths: dict[tuple[str, str, str], np.ndarray], keys: list[tuple[str, str, str]], n_paths: int
) -> np.ndarray:
    """Nearest-rank P5..P95 of every (series, year) column: (series x years, 5), by partial sorting."""
    rows = np.concatenate([paths[k].T for k in keys])  # (series*years, paths), float32, our own copy
    ranks = [round(p * (n_paths - 1)) for p in QUANTILES]

    def part(block: np.ndarray) -> np.ndarray:
        block.partition(ranks, axis=1)  # in place: rows is a private copy, so no second copy is needed
        return block[:, ranks]

    with ThreadPoolExecutor(QUANTILE_THREADS) as pool:
        return np.vstack(list(pool.map(part, np.array_split(rows, QUANTILE_THREADS))))
