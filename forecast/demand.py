"""Bottom-up NdFeB magnet demand by segment: units x intensity, in tonnes of finished magnet.

Small pure functions on numpy arrays, composed by :func:`segment_magnet_t`. Every function works on
(years,) arrays and, unchanged, on (paths, years) arrays: the Monte Carlo evaluates this same
model with drawn parameters (:class:`forecast.params.DrawnParams`). Intensities are converted to
the finished-magnet basis once, from the basis their source publishes (:mod:`forecast.basis`).
"""

from __future__ import annotations

import numpy as np

from forecast import params as parameters
from forecast.basis import to_finished
from forecast.params import ParamSet
from forecast.schemas import Segment

KG_PER_T = 1000.0  # unit conversion
MW_PER_GW = 1000.0  # unit conversion


def ev_demand_t(
    sales_vehicles: np.ndarray,
    motors_per_vehicle: np.ndarray,
    pm_motor_share: np.ndarray,
    motor_kg: np.ndarray,
) -> np.ndarray:
    """NdFeB in electric-car traction motors [t/yr].

    sales_vehicles [vehicles/yr] x motors_per_vehicle [motors/vehicle] x pm_motor_share [-]
    x motor_kg [kg NdFeB/motor] / 1000 [kg/t]. Intensity 1-2 kg/motor: DOE (2022).
    """
    return sales_vehicles * motors_per_vehicle * pm_motor_share * motor_kg / KG_PER_T


def wind_t_per_mw(shares: dict[str, np.ndarray], t_per_mw: dict[str, np.ndarray]) -> np.ndarray:
    """Fleet-average NdFeB intensity of new turbines [t/MW]: sum over drivetrains of share x t/MW.

    Drivetrains without a t/MW entry (non-PM generators) contribute nothing. Pavel et al. (2017).
    """
    total: np.ndarray = np.zeros(1)
    for d in t_per_mw:
        total = total + shares[d] * t_per_mw[d]
    return total


def wind_demand_t(installs_gw: np.ndarray, t_per_mw: np.ndarray) -> np.ndarray:
    """NdFeB in new wind turbine generators [t/yr] = installs [GW/yr] x 1000 [MW/GW] x t/MW."""
    return installs_gw * MW_PER_GW * t_per_mw


def wind_t_per_turbine(t_per_mw: np.ndarray, rating_mw: np.ndarray) -> np.ndarray:
    """NdFeB per new turbine [t/turbine] = average rating [MW/turbine] x intensity [t/MW]."""
    return rating_mw * t_per_mw


def trend_demand_t(base_t: np.ndarray, growth_per_yr: np.ndarray, years: np.ndarray, base_year: int) -> np.ndarray:
    """A small residual compounding from a base year [t/yr]: base_t x (1 + growth)^(year - base_year).

    Allowed only for segments under 5% of every year's total (checked in the tests): one constant
    growth rate, so no switch in any year.
    """
    return base_t * np.power(1.0 + growth_per_yr, years.astype(float) - base_year)


def units_demand_t(units: np.ndarray, shares: list[np.ndarray], kg_per_unit: np.ndarray) -> np.ndarray:
    """NdFeB in a counted product [t/yr] = units [1/yr] x product of shares [-] x kg per unit / 1000."""
    out = units * kg_per_unit / KG_PER_T
    for share in shares:
        out = out * share
    return out


def intensity(params: ParamSet, name: str, years: np.ndarray) -> np.ndarray:
    """A magnet intensity on the finished basis [unit of the parameter], from the basis its source uses."""
    p = params[name]
    return to_finished(parameters.value(params, name, years), params, p.basis or "finished", years)


def wind_intensity_t_per_mw(params: ParamSet, location: str, years: np.ndarray) -> np.ndarray:
    """Fleet-average t/MW (finished magnet) of new turbines at a location (onshore/offshore) by year."""
    names = {d: f"wind.{location}.share.{d}" for d in parameters.DRIVETRAINS}
    normalised = parameters.normalised_shares(params, list(names.values()), years)
    shares = {d: normalised[n] for d, n in names.items()}
    t_mw = {d: intensity(params, f"wind.t_per_mw.{d}", years) for d in parameters.PM_DRIVETRAINS}
    return wind_t_per_mw(shares, t_mw)


EV_KINDS: frozenset[str] = frozenset({"ev", "ev_commercial"})


def ev_segment_inputs(seg: Segment) -> tuple[str, str, str]:
    """Driver name, motors-per-vehicle parameter and kg-per-motor parameter of an electric-vehicle segment.

    Buses, trucks and vans count their magnet in BEV car-motor equivalents, so the kg per motor, its
    calibration and thrifting apply to them as to cars.
    """
    if seg.kind == "ev":
        powertrain = seg.powertrain
        return f"ev_car_sales.{powertrain}", f"ev.motors_per_vehicle.{powertrain}", f"ev.motor_kg.{powertrain}"
    return f"ev_commercial_sales.{seg.mode}", f"ev.commercial.{seg.mode}.motor_equivalents", "ev.motor_kg.BEV"


def segment_driver(seg: Segment) -> str | None:
    """The driver a segment's tonnage is proportional to (a name of the driver table); None for a trend."""
    if seg.kind in EV_KINDS:
        return ev_segment_inputs(seg)[0]
    if seg.kind == "wind":
        return f"wind_installs.{seg.location}"
    return seg.driver


def segment_magnet_t(
    segments: dict[str, Segment],
    params: ParamSet,
    drivers: dict[str, np.ndarray],
    years: np.ndarray,
    base_year: int,
) -> dict[str, np.ndarray]:
    """Finished NdFeB magnet demand by segment [t/yr], one array over years (or paths x years) each.

    drivers: arrays by name as from :func:`forecast.drivers.driver_arrays`.
    """
    out: dict[str, np.ndarray] = {}
    for name, seg in segments.items():
        if seg.kind in EV_KINDS:
            driver, motors, kg = ev_segment_inputs(seg)
            out[name] = ev_demand_t(
                drivers[driver],
                parameters.value(params, motors, years),
                parameters.value(params, "ev.pm_motor_share", years),
                intensity(params, kg, years) * parameters.value(params, "ev.motor_kg_factor", years),
            )
        elif seg.kind == "wind":
            out[name] = wind_demand_t(
                drivers[str(segment_driver(seg))],
                wind_intensity_t_per_mw(params, str(seg.location), years),
            )
        elif seg.kind == "units":
            out[name] = units_demand_t(
                drivers[str(seg.driver)],
                [parameters.value(params, share, years) for share in seg.shares],
                intensity(params, str(seg.intensity), years),
            )
        else:
            out[name] = trend_demand_t(
                parameters.value(params, f"other.{name}.base_t", years),
                parameters.value(params, f"other.{name}.growth_per_yr", years),
                years,
                base_year,
            )
    return out
