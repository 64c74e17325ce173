"""Named parameters: the registry of every name the model reads, evaluation over years, share groups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from forecast.schemas import ELEMENTS, STATUSES, Parameter, Structure

ParamSet = Mapping[str, Parameter]

DRIVETRAINS: tuple[str, ...] = ("direct_drive", "medium_speed", "high_speed_pm", "non_pm")
PM_DRIVETRAINS: tuple[str, ...] = ("direct_drive", "medium_speed", "high_speed_pm")
GRADES: tuple[str, ...] = ("high_coercivity", "standard")


@dataclass(frozen=True)
class ParameterSpec:
    """One entry of the parameter registry: a name pattern, its unit, and which modules read it.

    ``pattern`` may hold placeholders filled from the structure: ``{powertrain}`` and ``{mode}`` of
    the electric-vehicle segments, ``{location}`` of the wind segments, ``{trend_segment}`` of the
    trend segments, ``{segment}`` of every segment, ``{element}``, ``{grade}``, ``{drivetrain}``,
    ``{pm_drivetrain}`` and ``{status}`` (project statuses).
    """

    pattern: str
    unit: str
    read_by: tuple[str, ...]
    required: bool = True

    def names(self, structure: Structure) -> list[str]:
        """Every parameter name this entry stands for under ``structure``."""
        segs = structure.segments
        fill: dict[str, list[str]] = {
            "powertrain": [str(s.powertrain) for s in segs.values() if s.kind == "ev"],
            "mode": [str(s.mode) for s in segs.values() if s.kind == "ev_commercial"],
            "location": [str(s.location) for s in segs.values() if s.kind == "wind"],
            "trend_segment": [n for n, s in segs.items() if s.kind == "trend"],
            "segment": list(segs),
            "element": list(ELEMENTS),
            "grade": list(GRADES),
            "drivetrain": list(DRIVETRAINS),
            "pm_drivetrain": list(PM_DRIVETRAINS),
            "status": list(STATUSES),
        }
        out = [self.pattern]
        for key, values in fill.items():
            if "{" + key + "}" in self.pattern:
                out = [n.replace("{" + key + "}", v) for n in out for v in dict.fromkeys(values)]
        return out


# Every parameter the model reads. A parameter file must hold every required name and no name that
# is not registered here (forecast.loading checks both); tests/test_params.py walks the model with
# only these names.
PARAMETERS: tuple[ParameterSpec, ...] = (
    # electric vehicles
    ParameterSpec("ev.motor_kg", "kg_per_motor", ("demand", "montecarlo")),
    ParameterSpec("ev.motor_kg_factor", "fraction", ("demand",)),
    ParameterSpec("ev.pm_motor_share", "fraction", ("demand",)),
    ParameterSpec("ev.phev_share_of_sales", "fraction", ("drivers",)),
    ParameterSpec("ev.motors_per_vehicle.{powertrain}", "motors_per_vehicle", ("demand", "montecarlo")),
    ParameterSpec("ev.commercial.{mode}.motor_equivalents", "motors_per_vehicle", ("demand",)),
    # drivers
    ParameterSpec("drivers.ev_car_market_cap", "vehicles_per_year", ("drivers", "backtest", "montecarlo")),
    ParameterSpec("drivers.ev_car_sales_steps", "vehicles_per_year", ("drivers",)),
    ParameterSpec("drivers.ev_car_steps_weight", "fraction", ("drivers",)),
    ParameterSpec("drivers.ev_sales_multiplier", "fraction", ("drivers",)),
    ParameterSpec("drivers.ev_commercial_sales.{mode}", "vehicles_per_year", ("drivers",)),
    ParameterSpec("drivers.wind_cap_gw_per_yr", "GW_per_year", ("drivers", "backtest", "montecarlo")),
    ParameterSpec("drivers.wind_installs_multiplier", "fraction", ("drivers",)),
    # wind
    ParameterSpec("wind.offshore_share", "fraction", ("drivers",)),
    ParameterSpec("wind.t_per_mw.{pm_drivetrain}", "t_per_MW", ("demand", "montecarlo")),
    ParameterSpec("wind.{location}.share.{drivetrain}", "fraction", ("demand",)),
    # trend segments
    ParameterSpec("other.{trend_segment}.base_t", "t_magnet", ("demand", "montecarlo")),
    ParameterSpec("other.{trend_segment}.growth_per_yr", "fraction_per_year", ("demand", "montecarlo")),
    ParameterSpec("other.growth_taper_year", "year", ("demand", "montecarlo")),
    ParameterSpec("other.long_run_growth_per_yr", "fraction_per_year", ("demand", "montecarlo")),
    # magnet composition and conversions
    ParameterSpec("composition.{grade}.{element}", "mass_fraction", ("composition", "conversions", "montecarlo")),
    ParameterSpec("composition.heavy_re_factor", "fraction", ("composition", "montecarlo")),
    ParameterSpec("manufacturing.magnet_yield", "fraction", ("composition", "conversions", "gap")),
    ParameterSpec("refining.oxide_to_metal_yield", "fraction", ("composition", "conversions")),
    ParameterSpec("chem.atomic_weight.O", "g_per_mol", ("composition", "conversions", "montecarlo")),
    ParameterSpec("chem.atomic_weight.{element}", "g_per_mol", ("composition", "conversions", "montecarlo")),
    # supply, recycling and the gap
    ParameterSpec("supply.status.{status}.probability", "fraction", ("supply",)),
    ParameterSpec("supply.status.{status}.delay_years", "years", ("supply",)),
    ParameterSpec("supply.ndpr_share_of_treo.default", "fraction", ("conversions",)),
    ParameterSpec("demand.ex_china_share", "fraction", ("gap",)),
    ParameterSpec("lifetime.{segment}.mean_years", "years", ("gap",)),
    ParameterSpec("lifetime.{segment}.sd_years", "years", ("gap",)),
    ParameterSpec("recycling.eol_collection_rate", "fraction", ("gap",)),
    ParameterSpec("recycling.recovery_yield", "fraction", ("gap", "conversions")),
    ParameterSpec("recycling.scrap_recovery_rate", "fraction", ("gap",)),
)


def registered_parameters(structure: Structure) -> dict[str, ParameterSpec]:
    """Every registered parameter name under ``structure``, with its registry entry."""
    return {name: spec for spec in PARAMETERS for name in spec.names(structure)}


def required_parameters(structure: Structure) -> list[str]:
    """Every parameter name the model needs for this structure."""
    return [name for name, spec in registered_parameters(structure).items() if spec.required]


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
        total = np.sum([at_years(params[m], years) for m in members], axis=0)
        bad = np.abs(total - 1.0) > tol
        if np.any(bad):
            y = int(years[np.argmax(bad)])
            errors.append(f"{group}.*: shares sum to {float(total[np.argmax(bad)]):.4f} in {y}, expected 1")
    return errors
