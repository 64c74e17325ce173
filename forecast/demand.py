"""Bottom-up NdFeB magnet demand by segment: units x intensity.

Small pure functions on numpy arrays (one value per year), composed by :func:`segment_demand_t`
into a tidy table. Units are in every name and docstring.
"""

from __future__ import annotations

import numpy as np

from forecast import params as P
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
    return sum((shares[d] * t_per_mw[d] for d in t_per_mw), start=np.zeros_like(next(iter(shares.values()))))


def wind_demand_t(installs_gw: np.ndarray, t_per_mw: np.ndarray) -> np.ndarray:
    """NdFeB in new wind turbine generators [t/yr] = installs [GW/yr] x 1000 [MW/GW] x t/MW."""
    return installs_gw * MW_PER_GW * t_per_mw


def wind_t_per_turbine(t_per_mw: np.ndarray, rating_mw: np.ndarray) -> np.ndarray:
    """NdFeB per new turbine [t/turbine] = average rating [MW/turbine] x intensity [t/MW]."""
    return rating_mw * t_per_mw


def trend_demand_t(
    base_t: float,
    growth_per_yr: float | np.ndarray,
    years: np.ndarray,
    base_year: int,
    taper_year: int,
    long_run_growth_per_yr: float,
) -> np.ndarray:
    """Demand compounding from a base year [t/yr].

    Grows at growth_per_yr [1/yr] up to taper_year, then at long_run_growth_per_yr, so that a fast
    early growth rate is not compounded for decades: value(y) = base_t x prod over years of (1 + g).
    """
    y = years.astype(float)
    fast = np.minimum(y, taper_year) - base_year
    slow = np.clip(y - taper_year, 0.0, None)
    # Before the base year the fast rate runs backwards; after taper_year the long-run rate applies.
    return base_t * np.power(1.0 + growth_per_yr, fast) * np.power(1.0 + long_run_growth_per_yr, slow)


def wind_intensity_t_per_mw(params: ParamSet, location: str, years: np.ndarray) -> np.ndarray:
    """Fleet-average t/MW of new turbines at a location (onshore/offshore) by year."""
    shares = {d: P.value(params, f"wind.{location}.share.{d}", years) for d in P.DRIVETRAINS}
    t_mw = {d: P.value(params, f"wind.t_per_mw.{d}", years) for d in P.PM_DRIVETRAINS}
    return wind_t_per_mw(shares, t_mw)


EV_KINDS: frozenset[str] = frozenset({"ev", "ev_commercial"})


def ev_segment_inputs(seg: Segment) -> tuple[str, str]:
    """Driver name and motors-per-vehicle parameter of an electric-vehicle segment.

    Buses, trucks and vans count their magnet in car-motor equivalents, so the DOE kg per motor, its
    calibration and thrifting apply to them as to cars.
    """
    if seg.kind == "ev":
        return f"ev_car_sales.{seg.powertrain}", f"ev.motors_per_vehicle.{seg.powertrain}"
    return f"ev_commercial_sales.{seg.mode}", f"ev.commercial.{seg.mode}.motor_equivalents"


def segment_magnet_t(
    segments: dict[str, Segment],
    params: ParamSet,
    drivers: dict[str, np.ndarray],
    years: np.ndarray,
    base_year: int,
) -> dict[str, np.ndarray]:
    """NdFeB magnet demand by segment [t/yr], one array over years per segment.

    drivers: arrays by name as from :func:`forecast.drivers.driver_arrays`.
    """
    out: dict[str, np.ndarray] = {}
    for name, seg in segments.items():
        if seg.kind in EV_KINDS:
            driver, motors = ev_segment_inputs(seg)
            out[name] = ev_demand_t(
                drivers[driver],
                P.value(params, motors, years),
                P.value(params, "ev.pm_motor_share", years),
                P.value(params, "ev.motor_kg", years) * P.value(params, "ev.motor_kg_factor", years),
            )
        elif seg.kind == "wind":
            out[name] = wind_demand_t(
                drivers[f"wind_installs.{seg.location}"],
                wind_intensity_t_per_mw(params, str(seg.location), years),
            )
        else:
            out[name] = trend_demand_t(
                P.scalar(params, f"other.{name}.base_t"),
                P.scalar(params, f"other.{name}.growth_per_yr"),
                years,
                base_year,
                int(P.scalar(params, "other.growth_taper_year")),
                P.scalar(params, "other.long_run_growth_per_yr"),
            )
    return out
