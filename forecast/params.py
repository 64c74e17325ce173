"""Named parameters: evaluation over years, share groups, and the names the model needs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache

import numpy as np
from scipy.interpolate import PchipInterpolator

from forecast.schemas import ELEMENTS, Parameter, Structure

ParamSet = Mapping[str, Parameter]

DRIVETRAINS: tuple[str, ...] = ("direct_drive", "medium_speed", "high_speed_pm", "non_pm")
PM_DRIVETRAINS: tuple[str, ...] = ("direct_drive", "medium_speed", "high_speed_pm")
GRADES: tuple[str, ...] = ("high_coercivity", "standard")

CORE_PARAMETERS: tuple[str, ...] = (
    "ev.motor_kg_factor",
    "ev.pm_motor_share",
    "ev.phev_share_of_sales",
    "car.hev_share_of_sales",
    "drivers.smooth_tail_years",
    "drivers.car_sales.anchors",
    "drivers.ev_share.saturation",
    "drivers.ev_share.fit_years",
    "drivers.ev_sales_multiplier",
    "drivers.ev_car_sales_steps",
    "drivers.ev_car_steps_weight",
    "drivers.wind_cap_gw_per_yr",
    "drivers.wind_installs_multiplier",
    "wind.offshore_share",
    "composition.heavy_re_factor",
    "manufacturing.machining_yield",
    "manufacturing.sintering_yield",
    "manufacturing.swarf_recycling_rate",
    "refining.oxide_to_metal_yield",
    "chem.atomic_weight.O",
)


def required_parameters(structure: Structure) -> list[str]:
    """Every parameter name the model reads for this structure."""
    names = list(CORE_PARAMETERS)
    names += [f"wind.t_per_mw.{d}" for d in PM_DRIVETRAINS]
    names += [f"composition.{g}.{e}" for g in GRADES for e in ELEMENTS]
    names += [f"chem.atomic_weight.{e}" for e in ELEMENTS]
    names += [f"drivers.{name}.anchors" for name in structure.unit_drivers if name != "car_sales"]
    for name, seg in structure.segments.items():
        names += [f"lifetime.{name}.mean_years", f"lifetime.{name}.sd_years"]  # end-of-life stock model
        if seg.kind == "ev":
            names += [f"ev.motors_per_vehicle.{seg.powertrain}", f"ev.motor_kg.{seg.powertrain}"]
        elif seg.kind == "ev_commercial":
            names += [
                f"ev.commercial.{seg.mode}.motor_equivalents",
                f"drivers.ev_commercial_sales.{seg.mode}",
                "ev.motor_kg.BEV",
            ]
        elif seg.kind == "wind":
            names += [f"wind.{seg.location}.share.{d}" for d in DRIVETRAINS]
        elif seg.kind == "units":
            names += [*seg.shares, str(seg.intensity)]
        else:
            names += [f"other.{name}.base_t", f"other.{name}.growth_per_yr"]
    return list(dict.fromkeys(names))


def share_groups(names: list[str] | ParamSet) -> dict[str, list[str]]:
    """Groups of parameters that must sum to 1 (drivetrain shares per wind location)."""
    groups: dict[str, list[str]] = {}
    for name in names:
        if name.startswith("wind.") and ".share." in name:
            groups.setdefault(name.rsplit(".", 1)[0], []).append(name)
    return groups


def smooth_through(xs: np.ndarray, ys: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Monotone cubic (PCHIP) through the points (xs, ys), flat outside them [unit of ys].

    PCHIP keeps the slope continuous at every anchor (no kink in growth) and never overshoots
    between anchors (Fritsch & Carlson 1980, doi:10.1137/0717021).
    """
    x = years.astype(float)
    if len(xs) < 2:
        return np.full(x.shape, float(ys[0]) if len(ys) else 0.0)
    inside = PchipInterpolator(xs, ys, extrapolate=False)(np.clip(x, xs[0], xs[-1]))
    return np.asarray(inside, dtype=float)


@lru_cache(maxsize=4096)
def _trajectory_at(points: tuple[tuple[int, float], ...], years: tuple[int, ...]) -> np.ndarray:
    xs = np.array([p[0] for p in points], dtype=float)
    ys = np.array([p[1] for p in points], dtype=float)
    out = smooth_through(xs, ys, np.array(years))
    out.setflags(write=False)
    return out


def at_years(param: Parameter, years: np.ndarray) -> np.ndarray:
    """Parameter value at each year [param unit]; smooth (PCHIP) between anchors, flat outside."""
    if param.value is not None:
        return np.full(years.shape, param.value, dtype=float)
    return _trajectory_at(tuple((param.trajectory or {}).items()), tuple(int(y) for y in years))


class DrawnParams(Mapping[str, Parameter]):
    """Parameters with some constants replaced by Monte Carlo draws, one value per path.

    :func:`value` returns a drawn constant as a (paths, 1) column (a drawn trajectory as
    (paths, years)), so every model function that
    multiplies and adds arrays evaluates all paths at once (the deterministic model is the case
    without draws). Trajectories and undrawn constants stay (years,) rows.
    """

    def __init__(self, params: Mapping[str, Parameter], draws: Mapping[str, np.ndarray]):
        self._params = params
        arrays = {name: np.asarray(v, dtype=float) for name, v in draws.items()}
        # a drawn constant is one value per path (paths,) -> (paths, 1); a drawn trajectory is (paths, years)
        self.draws = {name: v[:, None] if v.ndim == 1 else v for name, v in arrays.items()}

    def __getitem__(self, name: str) -> Parameter:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)


def value(params: ParamSet, name: str, years: np.ndarray) -> np.ndarray:
    """Named parameter at each year: (years,), or (paths, 1) when drawn (KeyError names it if absent)."""
    if isinstance(params, DrawnParams) and name in params.draws:
        return params.draws[name]
    return at_years(params[name], years)


def scalar(params: ParamSet, name: str) -> float:
    """A constant parameter's value; a trajectory is read at its first anchor."""
    p = params[name]
    return float(p.value if p.value is not None else next(iter((p.trajectory or {}).values())))


def share_sum_errors(params: ParamSet, years: np.ndarray, tol: float) -> list[str]:
    """Share groups whose members do not sum to 1 within tol at some anchor year inside ``years``.

    Between anchors each member is interpolated on its own, so the model normalises a group by its
    sum (:func:`normalised_shares`); the data must add up where it is given.
    """
    errors = []
    for group, members in share_groups(params).items():
        anchors = sorted({y for m in members for y in (params[m].trajectory or {})} & {int(y) for y in years})
        at = np.array(anchors or [int(years[0])])
        total = sum(at_years(params[m], at) for m in members)
        bad = np.abs(total - 1.0) > tol
        if np.any(bad):
            y = int(at[np.argmax(bad)])
            errors.append(f"{group}.*: shares sum to {float(total[np.argmax(bad)]):.4f} in {y}, expected 1")
    return errors


def normalised_shares(params: ParamSet, names: list[str], years: np.ndarray) -> dict[str, np.ndarray]:
    """Members of a share group at each year, divided by their sum so they add up to 1 between anchors [-]."""
    raw = {n: value(params, n, years) for n in names}
    total = sum(raw.values())
    return {n: v / total for n, v in raw.items()}
