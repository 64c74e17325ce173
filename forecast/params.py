"""Named parameters: the registry of every name the model reads, evaluation over years, share groups."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.interpolate import PchipInterpolator

from forecast.schemas import ELEMENTS, EX_CHINA_REGIONS, FINANCING, REGIONS, STATUSES, Parameter, Structure

ParamSet = Mapping[str, Parameter]

DRIVETRAINS: tuple[str, ...] = ("direct_drive", "medium_speed", "high_speed_pm", "non_pm")
PM_DRIVETRAINS: tuple[str, ...] = ("direct_drive", "medium_speed", "high_speed_pm")
GRADES: tuple[str, ...] = ("high_coercivity", "standard")
# Driver families of the Monte Carlo (forecast.priors.DRIVER_FAMILIES holds what each moves).
DRIVER_FAMILY_NAMES: tuple[str, ...] = ("car_market", "ev", "wind", "humanoid_robots")


@dataclass(frozen=True)
class ParameterSpec:
    """One entry of the parameter registry: a name pattern, its unit, and which modules read it.

    ``pattern`` may hold placeholders filled from the structure: ``{powertrain}`` and ``{mode}`` of
    the electric-vehicle segments, ``{location}`` of the wind segments, ``{trend_segment}`` of the
    trend segments, ``{segment}`` of every segment, ``{element}``, ``{grade}``, ``{drivetrain}``,
    ``{pm_drivetrain}``, ``{status}`` (project statuses), ``{driver_family}`` (Monte Carlo driver families),
    ``{unit_driver}`` (unit drivers with anchors),
    ``{share_split}`` / ``{manufacturing_split}`` (regional splits by shares or history / by China's
    manufacturing and exports), ``{region}``, ``{ex_china_region}``,
    and ``{intensity}`` / ``{share}``, which stand for the whole parameter names a units segment
    names in structure.yaml.
    """

    pattern: str
    unit: str  # the unit, or alternatives joined by "|"
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
            "unit_driver": [n for n in structure.unit_drivers if n != "car_sales"],
            "intensity": [str(s.intensity) for s in segs.values() if s.kind == "units"],
            # shares that have an entry of their own (ev.pm_motor_share) are not repeated here
            "share": [x for s in segs.values() if s.kind == "units" for x in s.shares if x not in EXPLICIT_NAMES],
            "segment": list(segs),
            "element": list(ELEMENTS),
            "grade": list(GRADES),
            "drivetrain": list(DRIVETRAINS),
            "pm_drivetrain": list(PM_DRIVETRAINS),
            "status": list(STATUSES),
            "driver_family": list(DRIVER_FAMILY_NAMES),
            "financing": list(FINANCING),
            "share_split": structure.splits("history", "shares"),
            "manufacturing_split": structure.splits("manufacturing"),
            "region": list(REGIONS),
            "ex_china_region": list(EX_CHINA_REGIONS),
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
    # cars and electric vehicles
    ParameterSpec("ev.motor_kg.{powertrain}", "kg_per_motor", ("demand",)),
    ParameterSpec("ev.motor_kg_factor", "fraction", ("demand",)),
    ParameterSpec("ev.pm_motor_share", "fraction", ("demand",)),
    ParameterSpec("ev.phev_share_of_sales", "fraction", ("drivers",)),
    ParameterSpec("car.hev_share_of_sales", "fraction", ("drivers",)),
    ParameterSpec("ev.motors_per_vehicle.{powertrain}", "motors_per_vehicle", ("demand",)),
    ParameterSpec("ev.commercial.{mode}.motor_equivalents", "motors_per_vehicle", ("demand",)),
    # drivers
    ParameterSpec("drivers.smooth_tail_years", "years", ("drivers",)),
    ParameterSpec("drivers.car_sales.anchors", "vehicles_per_year", ("drivers", "backtest")),
    ParameterSpec("drivers.ev_share.saturation", "fraction", ("drivers", "backtest", "montecarlo")),
    ParameterSpec("drivers.ev_share.fit_years", "years", ("drivers",)),
    ParameterSpec("drivers.ev_car_sales_steps", "vehicles_per_year", ("drivers",)),
    ParameterSpec("drivers.ev_car_steps_weight", "fraction", ("drivers",)),
    ParameterSpec("drivers.ev_sales_multiplier", "fraction", ("drivers",)),
    ParameterSpec("drivers.ev_commercial_sales.{mode}", "vehicles_per_year", ("drivers",)),
    ParameterSpec("drivers.wind_cap_gw_per_yr", "GW_per_year", ("drivers", "backtest", "montecarlo")),
    ParameterSpec("drivers.wind_installs_multiplier", "fraction", ("drivers",)),
    ParameterSpec("drivers.{unit_driver}.anchors", "units_per_year|vehicles_per_year", ("drivers",)),
    # published high cases, read as the 97.5% quantile of a driver family (forecast.priors.HIGH_CASE)
    ParameterSpec("drivers.car_sales.high_anchors", "vehicles_per_year", ("priors", "scenarios")),
    ParameterSpec("drivers.humanoid_robots.high_anchors", "units_per_year", ("priors", "scenarios")),
    ParameterSpec("uncertainty.{driver_family}.spread_factor", "fraction", ("priors", "calibration")),
    # units segments: the intensity and shares each names in structure.yaml
    ParameterSpec("{intensity}", "kg_per_unit|kg_per_vehicle", ("demand",)),
    ParameterSpec("{share}", "fraction", ("demand",)),
    # wind
    ParameterSpec("wind.offshore_share", "fraction", ("drivers",)),
    ParameterSpec("wind.t_per_mw.{pm_drivetrain}", "t_per_MW", ("demand",)),
    ParameterSpec("wind.{location}.share.{drivetrain}", "fraction", ("demand",)),
    # residual trend segments
    ParameterSpec("other.{trend_segment}.base_t", "t_magnet", ("demand",)),
    ParameterSpec("other.{trend_segment}.growth_per_yr", "fraction_per_year", ("demand",)),
    # magnet composition, bases and conversions
    ParameterSpec("composition.{grade}.{element}", "mass_fraction", ("composition", "conversions")),
    ParameterSpec("composition.heavy_re_factor", "fraction", ("composition",)),
    ParameterSpec("composition.standard.ce_substitution", "fraction", ("composition", "conversions")),
    ParameterSpec("manufacturing.machining_yield", "fraction", ("basis", "conversions", "gap")),
    ParameterSpec("manufacturing.sintering_yield", "fraction", ("basis", "conversions", "gap")),
    ParameterSpec("manufacturing.swarf_recycling_rate", "fraction", ("composition", "gap")),
    ParameterSpec("refining.oxide_to_metal_yield", "fraction", ("composition", "conversions")),
    ParameterSpec("chem.atomic_weight.O", "g_per_mol", ("composition", "conversions")),
    ParameterSpec("chem.atomic_weight.{element}", "g_per_mol", ("composition", "conversions")),
    # supply, recycling and the gap
    ParameterSpec("supply.status.{status}.probability", "fraction", ("supply",)),
    ParameterSpec("supply.status.{status}.delay_years", "years", ("supply",)),
    ParameterSpec("supply.ndpr_share_of_treo.default", "fraction", ("conversions",)),
    # read for the financing stages the pipeline uses; a stage no project has is not required
    ParameterSpec("supply.financing.{financing}.probability", "fraction", ("supply",), required=False),
    ParameterSpec("supply.financing.{financing}.delay_years", "years", ("supply",), required=False),
    ParameterSpec("supply.utilisation.first_year", "fraction", ("supply",)),
    ParameterSpec("supply.utilisation.mature", "fraction", ("supply",)),
    ParameterSpec("supply.utilisation.years_to_mature", "years", ("supply",)),
    ParameterSpec("china.mine_growth_per_yr", "fraction_per_year", ("balance",)),
    ParameterSpec("china.separation_growth_per_yr", "fraction_per_year", ("balance",)),
    ParameterSpec("china.imported_feed_growth_per_yr", "fraction_per_year", ("balance",)),
    ParameterSpec("china.magnet_growth_per_yr", "fraction_per_year", ("balance",)),
    ParameterSpec("china.ndpr_share_of_separated", "fraction", ("balance",)),
    ParameterSpec("china.dy_share_of_separated", "fraction", ("balance",)),
    ParameterSpec("china.tb_share_of_separated", "fraction", ("balance",)),
    ParameterSpec("china.ndpr_share_of_imported_feed", "fraction", ("balance",)),
    ParameterSpec("china.dy_share_of_imported_feed", "fraction", ("balance",)),
    ParameterSpec("china.tb_share_of_imported_feed", "fraction", ("balance",)),
    # demand by region (forecast.regions): end-use shares, and China's manufacturing and export shares
    ParameterSpec("regions.{share_split}.share.{region}", "fraction", ("regions",)),
    ParameterSpec("regions.{manufacturing_split}.share.{ex_china_region}", "fraction", ("regions",)),
    ParameterSpec("regions.{manufacturing_split}.china_manufacturing_share", "fraction", ("regions",)),
    ParameterSpec("regions.{manufacturing_split}.china_export_share", "fraction", ("regions",)),
    ParameterSpec("lifetime.{segment}.mean_years", "years", ("gap",)),
    ParameterSpec("lifetime.{segment}.sd_years", "years", ("gap",)),
    ParameterSpec("recycling.eol_collection_rate", "fraction", ("gap",)),
    ParameterSpec("recycling.recovery_yield", "fraction", ("gap", "conversions")),
)


EXPLICIT_NAMES: frozenset[str] = frozenset(p.pattern for p in PARAMETERS if "{" not in p.pattern)


def registered_parameters(structure: Structure) -> dict[str, ParameterSpec]:
    """Every registered parameter name under ``structure``, with its registry entry."""
    return {name: spec for spec in PARAMETERS for name in spec.names(structure)}


def required_parameters(structure: Structure) -> list[str]:
    """Every parameter name the model needs for this structure."""
    return [name for name, spec in registered_parameters(structure).items() if spec.required]


def share_groups(names: list[str] | ParamSet) -> dict[str, list[str]]:
    """Groups of parameters that must sum to 1 (drivetrain shares per wind location, regional shares per split)."""
    groups: dict[str, list[str]] = {}
    for name in names:
        if name.startswith(("wind.", "regions.")) and ".share." in name:
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
        total = np.sum([at_years(params[m], at) for m in members], axis=0)
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
