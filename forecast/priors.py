"""Priors of the uncertain inputs: one registry for the Monte Carlo, the calibration and the sensitivity.

Every uncertain input is moved by a standard-normal score ``z`` (its standardized move):

- **parameters** with a sourced range [low, high] around a central value c (constants, and the
  trajectory listed in :data:`TRAJECTORY_PARAMETERS`, anchor by anchor): a split normal whose
  central 95% interval is the range, ``c + z (high - c) / 1.96`` above c and ``c + z (c - low) / 1.96``
  below, so the median is the central value; truncated at the range (|z| <= 1.96) in draws and in
  the calibration, so no value ever leaves its range;
- **driver families**: the family's driver arrays times ``exp(z sigma(year))``, capped at the
  family's ceiling. sigma comes from the backtested ensemble's 95% interval (electric vehicles, wind:
  :mod:`forecast.backtest`, widened by conformal prediction) or from a published high case read as
  the 97.5% quantile (car market, humanoid robots: ``drivers.<name>.high_anchors``). History years do
  not move. Driver scores are not truncated in draws (the intervals are calibrated 95% intervals);
  the calibration keeps them within +-1.96.

Dependence: one score per group. Parameters of one technology share a score (the kg NdFeB of BEV
and PHEV traction motors; t/MW of the PM drivetrains), every other input has its own, independent of
the rest. Electric cars, buses, trucks and vans move with one electrification score; the car market
moves every car count (so the electric share of a path is unchanged by it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.stats import norm

from forecast import params as parameters
from forecast.driver_models import z_of
from forecast.drivers import observed_world, smooth_path
from forecast.params import ParamSet
from forecast.schemas import Assumptions, Parameter

Z95 = float(norm.ppf(0.975))  # a sourced range read as a central 95% interval
TRUNCATION = float(norm.cdf(-Z95))  # mass of a score below -Z95: drawn parameter scores stay within +-Z95
DRIVER_PREFIX = "driver:"  # the name of a driver family's input: driver:<family>

# Constant parameters the demand model reads whose range is an uncertainty (not a scenario lever).
UNCERTAIN_PREFIXES: tuple[str, ...] = (
    "ev.motor_kg.",
    "ev.motors_per_vehicle.",
    "ev.pm_motor_share",
    "ev.commercial.",
    "wind.t_per_mw.",
    "composition.",
    "manufacturing.",
    "refining.",
)
# Trajectories drawn anchor by anchor (adoption paths of a technology). The heavy-RE thrifting path
# is a scenario dimension (thrifting, export_controls): its range spans 0.3-1.0 in every year, which
# as a prior would skew Dy and Tb far from their central values.
TRAJECTORY_PARAMETERS: tuple[str, ...] = ("aircon.inverter_share", "composition.standard.ce_substitution")
# Parameters of one technology move together (one score per group).
SHARED_SCORE_PREFIXES: tuple[str, ...] = ("ev.motor_kg.", "wind.t_per_mw.")

# Driver families: the driver arrays each moves.
DRIVER_FAMILIES: dict[str, tuple[str, ...]] = {
    "car_market": ("cars.market", "cars.electric", "ev_car_sales.BEV", "ev_car_sales.PHEV", "cars.HEV"),
    "ev": (
        "ev_car_sales.BEV",
        "ev_car_sales.PHEV",
        "cars.electric",
        "ev_commercial_sales.bus",
        "ev_commercial_sales.truck",
        "ev_commercial_sales.van",
    ),
    "wind": ("wind_installs.onshore", "wind_installs.offshore"),
    "humanoid_robots": ("units.humanoid_robots",),
}
# Families whose drivers path_drivers only multiplies: every segment they feed is proportional to the
# family's multiplier. The car market and electrification also make the non-plug-in and hybrid counts
# (a difference and a minimum), so demand is not proportional to theirs.
PROPORTIONAL_FAMILIES: tuple[str, ...] = ("wind", "humanoid_robots")
# Families whose spread is the backtested ensemble's 95% interval: family -> driver trend series.
BACKTESTED: dict[str, str] = {"ev": "ev_car_sales", "wind": "wind_installations"}
# Families whose spread is a published high case: family -> (unit driver, central anchors, high anchors).
HIGH_CASE: dict[str, tuple[str, str, str]] = {
    "car_market": ("car_sales", "drivers.car_sales.anchors", "drivers.car_sales.high_anchors"),
    "humanoid_robots": (
        "humanoid_robots",
        "drivers.humanoid_robots.anchors",
        "drivers.humanoid_robots.high_anchors",
    ),
}
# The deterministic model's lever for each family (a calibrated move is written into it).
FAMILY_LEVER: dict[str, str] = {
    "ev": "drivers.ev_sales_multiplier",
    "wind": "drivers.wind_installs_multiplier",
    "car_market": "drivers.car_sales.anchors",
    "humanoid_robots": "drivers.humanoid_robots.anchors",
}
FAMILY_UNITS: dict[str, str] = {
    "ev": "vehicles_per_year",
    "wind": "GW_per_year",
    "car_market": "vehicles_per_year",
    "humanoid_robots": "units_per_year",
}


@dataclass(frozen=True)
class Input:
    """One uncertain input: a parameter (``name`` as in parameters.yaml) or a driver family (``driver:<family>``)."""

    name: str
    kind: str  # "parameter" or "driver"
    group: str  # inputs of one group share one score
    unit: str
    source: str


@dataclass(frozen=True)
class Priors:
    """The uncertain inputs of one scenario, their groups (one score each) and driver spreads by year."""

    inputs: list[Input]
    groups: list[str]
    params: ParamSet
    sigma: dict[str, np.ndarray]  # family -> log spread by year of ``years``
    years: np.ndarray

    @property
    def parameter_names(self) -> list[str]:
        return [i.name for i in self.inputs if i.kind == "parameter"]

    @property
    def families(self) -> list[str]:
        return [i.name.split(":", 1)[1] for i in self.inputs if i.kind == "driver"]

    def group_of(self, name: str) -> int:
        return self.groups.index(next(i.group for i in self.inputs if i.name == name))

    def is_driver(self) -> np.ndarray:
        """Boolean per group: True for a driver family (its score is not truncated in draws)."""
        kinds = {i.group: i.kind for i in self.inputs}
        return np.array([kinds[g] == "driver" for g in self.groups])

    def parameter_values(self, z: np.ndarray) -> dict[str, np.ndarray]:
        """Parameter values for scores z (paths, groups): (paths,) for constants, (paths, years) for trajectories."""
        out = {}
        for name in self.parameter_names:
            out[name] = moved_value(self.params[name], z[:, self.group_of(name)], self.years)
        return out


def moved_value(p: Parameter, z: np.ndarray, years: np.ndarray) -> np.ndarray:
    """A parameter moved by scores z along its split-normal prior [param unit]: (n,) or (n, years) for a trajectory."""
    if p.value is not None:
        c = float(p.value)
        return c + z * np.where(z >= 0, p.high - c, c - p.low) / Z95
    c_years = parameters.at_years(p, years)[None, :]
    zz = z[:, None]
    return c_years + zz * np.where(zz >= 0, p.high - c_years, c_years - p.low) / Z95


def _uncertain_parameter_names(a: Assumptions, params: ParamSet, residual_segment: str | None) -> list[str]:
    names = [n for n in params if n.startswith(UNCERTAIN_PREFIXES)]
    names += [str(seg.intensity) for name, seg in a.structure.segments.items() if seg.intensity]
    residual = a.structure.segments.get(residual_segment or "")
    skip = {str(residual.intensity)} if residual is not None and residual.intensity else set()
    out = []
    for n in dict.fromkeys(names):
        p = params.get(n)
        if p is None or n in skip or not p.high > p.low:
            continue
        if p.value is not None or n in TRAJECTORY_PARAMETERS:
            out.append(n)
    return out + [n for n in TRAJECTORY_PARAMETERS if n in params and n not in out and params[n].high > params[n].low]


def _backtest_sigma(trend: pd.DataFrame | None, years: np.ndarray, last_hist: int) -> np.ndarray:
    """Log spread of an ensemble projection by year, from its 95% interval; 0 up to the last observed year."""
    if trend is None or not len(trend):
        return np.zeros(years.shape)
    t = trend.set_index("year").reindex(years)
    lo, hi = t["lo_95"].to_numpy(dtype=float), t["hi_95"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (np.log(hi) - np.log(lo)) / (2 * z_of(95))
    return np.where(np.isfinite(s) & (years > last_hist), s, 0.0)


def _high_case_sigma(a: Assumptions, params: ParamSet, family: str, years: np.ndarray) -> np.ndarray:
    """Log spread of a unit driver whose published high case is read as its 97.5% quantile.

    The spread is that of the sourced paths (parameters.yaml), so a scenario or a calibration that
    moves the driver's central path keeps the same relative uncertainty around it.
    """
    driver, central, high = HIGH_CASE[family]
    sourced = a.parameters
    if high not in sourced or central not in sourced:
        return np.zeros(years.shape)
    tail = int(parameters.scalar(params, "drivers.smooth_tail_years"))
    observed = observed_world(a.unit_sales, "driver", driver)
    c = smooth_path(observed, sourced[central].trajectory or {}, years, tail)
    h = smooth_path(observed, sourced[high].trajectory or {}, years, tail)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.log(h / c) / Z95
    return np.where(np.isfinite(s) & (s > 0), s, 0.0)


def driver_sigmas(a: Assumptions, params: ParamSet, years: np.ndarray) -> dict[str, np.ndarray]:
    """Log spread by year of every driver family (0 where the driver is history), times its spread factor."""
    last = {
        "ev": int(a.ev_car_sales["year"].max()),
        "wind": int(a.wind_installations["year"].max()),
    }
    out = {fam: _backtest_sigma(a.driver_trends.get(series), years, last[fam]) for fam, series in BACKTESTED.items()}
    out |= {fam: _high_case_sigma(a, params, fam, years) for fam in HIGH_CASE}
    return {fam: s * parameters.scalar(params, spread_factor_name(fam)) for fam, s in out.items()}


def spread_factor_name(family: str) -> str:
    """Parameter scaling a driver family's log spread (0 holds the family on its central path)."""
    return f"uncertainty.{family}.spread_factor"


def priors(a: Assumptions, params: ParamSet, years: np.ndarray, residual_segment: str | None = None) -> Priors:
    """The uncertain inputs of a parameter set over ``years`` (see the module docstring)."""
    inputs = []
    for n in _uncertain_parameter_names(a, params, residual_segment):
        shared = next((p for p in SHARED_SCORE_PREFIXES if n.startswith(p)), None)
        p = params[n]
        inputs.append(Input(n, "parameter", shared.rstrip(".") if shared else n, p.unit, p.source))
    sigma = driver_sigmas(a, params, years)
    for fam in DRIVER_FAMILIES:
        if np.any(sigma[fam] > 0):
            lever = params.get(HIGH_CASE[fam][2]) if fam in HIGH_CASE else None
            source = lever.source if lever is not None else "backtest"
            inputs.append(Input(f"{DRIVER_PREFIX}{fam}", "driver", f"{DRIVER_PREFIX}{fam}", FAMILY_UNITS[fam], source))
    groups = list(dict.fromkeys(i.group for i in inputs))
    return Priors(inputs, groups, params, sigma, years)


def trend_moves(pri: Priors, target_year: int) -> Priors:
    """The priors with each backtested family's spread read as a change of trend up to ``target_year``.

    A backtested interval at horizon h holds year-to-year noise as well as uncertainty in the trend:
    already at h = 1 it spans about +-40% for electric cars. Moved by z, that spread would put a step
    in the first projected year (z = 0.6: electric car sales +27% in 2026, growth from +21% to +52%).
    A calibration moves the trend instead: the log multiplier rises linearly from 0 in the last
    observed year to z sigma(target_year), so growth changes by the same amount in every year, and
    follows z sigma(year) after the target year. Families with a published high case already move
    along a path (their spread grows from 0) and are unchanged. Draws keep the full spread.
    """
    years = pri.years.astype(float)
    col = int(np.searchsorted(pri.years, target_year))
    sigma = dict(pri.sigma)
    for fam in BACKTESTED:
        s = sigma.get(fam)
        if s is None or col >= len(years) or not np.any(s > 0):
            continue
        last = float(years[np.argmax(s > 0)] - 1.0)
        ramp = np.clip((years - last) / (float(target_year) - last), 0.0, 1.0)
        sigma[fam] = np.where(years < target_year, s[col] * ramp, s)
    return replace(pri, sigma=sigma)


def driver_ceilings(drivers: Mapping[str, np.ndarray], params: ParamSet) -> dict[str, np.ndarray]:
    """Largest multiplier by year that keeps a family at or below its sourced cap (inf where none).

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


def path_drivers(drivers: Mapping[str, np.ndarray], multipliers: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Drivers on every path (paths, years): family multipliers applied in order, the car market kept whole.

    The car market scales every car count; the electrification multiplier then scales electric
    vehicles. Non-plug-in cars are the market less the electric cars of the path; hybrids never
    exceed them. A multiplier must already be capped at its family's ceiling.
    """
    out = dict(drivers)
    for family in DRIVER_FAMILIES:
        if family not in multipliers:
            continue
        for name in DRIVER_FAMILIES[family]:
            out[name] = np.atleast_2d(out[name]) * multipliers[family]
    if "car_market" in multipliers or "ev" in multipliers:
        market = np.atleast_2d(out["cars.market"])
        out["cars.non_plugin"] = np.maximum(market - out["cars.electric"], 0.0)
        out["cars.HEV"] = np.minimum(np.atleast_2d(out["cars.HEV"]), out["cars.non_plugin"])
    return out


def capped_multipliers(pri: Priors, z: np.ndarray, ceilings: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """exp(z sigma) by family, capped at the family's ceiling (paths, years)."""
    return {fam: family_multiplier(pri, z, fam, ceilings) for fam in pri.families}


def family_multiplier(pri: Priors, z: np.ndarray, family: str, ceilings: Mapping[str, np.ndarray]) -> np.ndarray:
    """exp(z sigma) of one driver family, capped at its ceiling (paths, years)."""
    m = np.exp(z[:, pri.group_of(f"{DRIVER_PREFIX}{family}")][:, None] * pri.sigma[family][None, :])
    return np.minimum(m, ceilings[family][None, :]) if family in ceilings else m


def moved_parameters(
    pri: Priors, z: np.ndarray, drivers: Mapping[str, np.ndarray], ceilings: Mapping[str, np.ndarray]
) -> dict[str, Parameter]:
    """Parameters that carry one score vector z (groups,) into the deterministic model.

    Parameters get their moved values (trajectories anchor by anchor); a driver family's move is
    written into its lever (:data:`FAMILY_LEVER`) at every year of ``pri.years`` after the history,
    so the deterministic model reproduces the moved drivers at every year. Values are kept within
    their parameter's range.
    """
    out: dict[str, Parameter] = {}
    z1 = np.asarray(z, dtype=float)[None, :]
    for name in pri.parameter_names:
        p = pri.params[name]
        g = pri.group_of(name)
        if p.value is not None:
            out[name] = p.with_values(float(np.clip(moved_value(p, z1[:, g], pri.years)[0], p.low, p.high)))
        else:
            anchors = np.array(list((p.trajectory or {}).keys()))
            moved = moved_value(p, z1[:, g], anchors)[0]
            out[name] = p.with_values(
                {int(y): float(np.clip(v, p.low, p.high)) for y, v in zip(anchors, moved, strict=True)}
            )
    mult = capped_multipliers(pri, z1, ceilings)
    for fam, m in mult.items():
        lever = pri.params[FAMILY_LEVER[fam]]
        moved_years = pri.sigma[fam] > 0
        if not moved_years.any():
            continue
        years = pri.years[moved_years]
        if fam in HIGH_CASE:
            base = np.asarray(drivers[DRIVER_FAMILIES[fam][0]], dtype=float)[moved_years]
        else:
            base = parameters.at_years(lever, years)
        values = np.clip(base * m[0][moved_years], lever.low, lever.high)
        traj = {int(y): float(v) for y, v in zip(years, values, strict=True)}
        # anchors outside the moved years (history, the first published point) stay as they are
        traj = {y: v for y, v in (lever.trajectory or {}).items() if y not in traj} | traj
        out[lever_name(fam)] = lever.with_values(dict(sorted(traj.items())))
    return out


def lever_name(family: str) -> str:
    return FAMILY_LEVER[family]
