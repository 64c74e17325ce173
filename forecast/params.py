"""Named parameters: evaluation over years, share groups, and the names the model needs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from forecast.schemas import ELEMENTS, Parameter, Structure

ParamSet = Mapping[str, Parameter]

DRIVETRAINS: tuple[str, ...] = ("direct_drive", "medium_speed", "high_speed_pm", "non_pm")
PM_DRIVETRAINS: tuple[str, ...] = ("direct_drive", "medium_speed", "high_speed_pm")
GRADES: tuple[str, ...] = ("high_coercivity", "standard")

CORE_PARAMETERS: tuple[str, ...] = (
    "ev.motor_kg",
    "ev.motor_kg_factor",
    "ev.pm_motor_share",
    "ev.phev_share_of_sales",
    "drivers.ev_car_market_cap",
    "drivers.ev_sales_multiplier",
    "drivers.ev_car_sales_steps",
    "drivers.ev_car_steps_weight",
    "drivers.wind_cap_gw_per_yr",
    "drivers.wind_installs_multiplier",
    "wind.offshore_share",
    "composition.heavy_re_factor",
    "manufacturing.magnet_yield",
    "refining.oxide_to_metal_yield",
    "chem.atomic_weight.O",
    "other.growth_taper_year",
    "other.long_run_growth_per_yr",
)


def required_parameters(structure: Structure) -> list[str]:
    """Every parameter name the model reads for this structure."""
    names = list(CORE_PARAMETERS)
    names += [f"wind.t_per_mw.{d}" for d in PM_DRIVETRAINS]
    names += [f"composition.{g}.{e}" for g in GRADES for e in ELEMENTS]
    names += [f"chem.atomic_weight.{e}" for e in ELEMENTS]
    for name, seg in structure.segments.items():
        names += [f"lifetime.{name}.mean_years", f"lifetime.{name}.sd_years"]  # end-of-life stock model
        if seg.kind == "ev":
            names.append(f"ev.motors_per_vehicle.{seg.powertrain}")
        elif seg.kind == "ev_commercial":
            names += [f"ev.commercial.{seg.mode}.motor_equivalents", f"drivers.ev_commercial_sales.{seg.mode}"]
        elif seg.kind == "wind":
            names += [f"wind.{seg.location}.share.{d}" for d in DRIVETRAINS]
            names.append(f"wind.{seg.location}.rating_mw")
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


def at_years(param: Parameter, years: np.ndarray) -> np.ndarray:
    """Parameter value at each year [param unit]; linear between anchors, flat outside."""
    if param.value is not None:
        return np.full(years.shape, param.value, dtype=float)
    traj = param.trajectory or {}
    xs = np.fromiter(traj.keys(), dtype=float)
    ys = np.fromiter(traj.values(), dtype=float)
    return np.interp(years.astype(float), xs, ys)


def value(params: ParamSet, name: str, years: np.ndarray) -> np.ndarray:
    """Named parameter at each year (KeyError names the parameter if absent)."""
    return at_years(params[name], years)


def scalar(params: ParamSet, name: str) -> float:
    """A constant parameter's value; a trajectory is read at its first anchor."""
    p = params[name]
    return float(p.value if p.value is not None else next(iter((p.trajectory or {}).values())))


def share_sum_errors(params: ParamSet, years: np.ndarray, tol: float) -> list[str]:
    """Share groups whose members do not sum to 1 within tol at some year."""
    errors = []
    for group, members in share_groups(params).items():
        total = sum(at_years(params[m], years) for m in members)
        bad = np.abs(total - 1.0) > tol
        if np.any(bad):
            y = int(years[np.argmax(bad)])
            errors.append(f"{group}.*: shares sum to {float(total[np.argmax(bad)]):.4f} in {y}, expected 1")
    return errors
