"""Segment demand laws: units x intensity, monotone in drivers and intensities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast.demand import (
    ev_demand_t,
    trend_demand_t,
    wind_demand_t,
    wind_t_per_mw,
    wind_t_per_turbine,
)
from forecast.model import demand_for_params, horizon_years, total_magnet_t
from forecast.scenarios import apply_overrides, resolve_parameters
from tests.conftest import SLOW_PROPERTIES

pos = st.floats(0.0, 1e8, allow_nan=False)
frac = st.floats(0.0, 1.0)


def test_one_million_bevs_with_one_motor_of_two_kg_need_two_thousand_tonnes():
    assert ev_demand_t(np.array([1e6]), np.array([1.0]), np.array([1.0]), np.array([2.0]))[0] == pytest.approx(2000.0)


def test_one_gw_of_direct_drive_at_065_t_per_mw_needs_650_t():
    t_mw = wind_t_per_mw(
        {"direct_drive": np.array([1.0]), "non_pm": np.array([0.0])}, {"direct_drive": np.array([0.65])}
    )
    assert wind_demand_t(np.array([1.0]), t_mw)[0] == pytest.approx(650.0)
    assert wind_t_per_turbine(t_mw, np.array([15.0]))[0] == pytest.approx(9.75)


def test_non_pm_drivetrains_need_no_magnet():
    t_mw = wind_t_per_mw(
        {"direct_drive": np.array([0.0]), "non_pm": np.array([1.0])}, {"direct_drive": np.array([0.65])}
    )
    assert t_mw[0] == 0.0


@given(sales=pos, extra=pos, motors=st.floats(1, 2), share=frac, kg=st.floats(1, 2))
def test_more_vehicles_never_mean_less_demand(sales, extra, motors, share, kg):
    a = ev_demand_t(np.array([sales]), np.array([motors]), np.array([share]), np.array([kg]))
    b = ev_demand_t(np.array([sales + extra]), np.array([motors]), np.array([share]), np.array([kg]))
    assert b[0] >= a[0]


@given(sales=pos, kg=st.floats(1, 2), more=st.floats(0, 1), share=frac)
def test_more_kg_per_motor_never_means_less_demand(sales, kg, more, share):
    a = ev_demand_t(np.array([sales]), np.array([1.2]), np.array([share]), np.array([kg]))
    b = ev_demand_t(np.array([sales]), np.array([1.2]), np.array([share]), np.array([kg + more]))
    assert b[0] >= a[0]


@given(k=st.floats(0.1, 10.0))
def test_scaling_all_intensities_scales_demand(k):
    sales, gw = np.array([5e6]), np.array([50.0])
    ev = ev_demand_t(sales, np.array([1.2]), np.array([0.9]), np.array([1.5]))
    ev_k = ev_demand_t(sales, np.array([1.2]), np.array([0.9]), np.array([1.5 * k]))
    assert ev_k[0] == pytest.approx(k * ev[0])
    w = wind_demand_t(gw, np.array([0.3]))
    assert wind_demand_t(gw, np.array([0.3 * k]))[0] == pytest.approx(k * w[0])


def test_a_residual_trend_is_the_base_in_the_base_year_and_one_constant_growth():
    years = np.array([2023, 2024, 2040, 2041])
    v = trend_demand_t(np.array([100.0]), np.array([0.1]), years, 2023)
    assert v[0] == pytest.approx(100.0)
    assert v[1] == pytest.approx(110.0)
    assert v[3] / v[2] == pytest.approx(1.1)


def test_a_unit_segment_is_units_times_shares_times_kg(assumptions):
    """air_conditioners = room units x inverter share x kg per inverter unit / 1000."""
    from forecast import params as parameters
    from forecast.drivers import driver_arrays
    from forecast.model import unit_driver_units

    params = resolve_parameters(assumptions, "base")
    years = horizon_years(assumptions)
    df = demand_for_params(assumptions, params, years)
    sel = (df["segment"] == "air_conditioners") & (df["material"] == "NdFeB") & (df["basis"] == "finished")
    got = df[sel].set_index("year")["value"]
    drivers = driver_arrays(
        assumptions.histories(), params, years, assumptions.driver_trends, unit_driver_units(assumptions)
    )
    expected = (
        drivers["units.room_air_conditioners"]
        * parameters.value(params, "aircon.inverter_share", years)
        * parameters.value(params, "aircon.kg_per_inverter_unit", years)
        / 1000.0
    )
    np.testing.assert_allclose(got.to_numpy(), expected)


@settings(max_examples=15, deadline=None)
@given(
    name=st.sampled_from(
        ["robots.industrial.kg_per_unit", "vehicle.aux_kg.conventional", "e2w.kg_per_vehicle", "ev.motor_kg.BEV"]
    ),
    share=st.floats(0.0, 1.0),
)
def test_more_kg_per_unit_never_lowers_model_demand(assumptions, name, share):
    base = resolve_parameters(assumptions, "base")
    years = horizon_years(assumptions)
    p = base[name]
    more = apply_overrides(base, {name: p.value + share * (p.high - p.value)})
    lo = total_magnet_t(demand_for_params(assumptions, base, years))
    hi = total_magnet_t(demand_for_params(assumptions, more, years))
    assert (hi >= lo - 1e-9).all()


@settings(max_examples=15, deadline=None)
@given(
    driver=st.sampled_from(["industrial_robots", "humanoid_robots", "e_two_three_wheelers", "room_air_conditioners"]),
    k=st.floats(1.0, 1.5),
)
def test_more_units_never_lower_model_demand(assumptions, driver, k):
    base = resolve_parameters(assumptions, "base")
    years = horizon_years(assumptions)
    name = f"drivers.{driver}.anchors"
    p = base[name]
    anchors = {y: min(v * k, p.high) for y, v in (p.trajectory or {}).items()}
    lo = total_magnet_t(demand_for_params(assumptions, base, years))
    hi = total_magnet_t(demand_for_params(assumptions, apply_overrides(base, {name: anchors}), years))
    assert (hi >= lo - 1e-9).all()


def test_more_ev_sales_never_lower_model_demand(assumptions):
    base = resolve_parameters(assumptions, "base")
    years = horizon_years(assumptions)
    lo = total_magnet_t(demand_for_params(assumptions, base, years))
    hi_params = apply_overrides(base, {"drivers.ev_sales_multiplier": 1.3, "drivers.wind_installs_multiplier": 1.3})
    hi = total_magnet_t(demand_for_params(assumptions, hi_params, years))
    assert (hi >= lo - 1e-9).all()
    assert hi[2040] > lo[2040]


def test_segments_sum_to_total_and_nothing_is_negative(assumptions):
    df = demand_for_params(assumptions, resolve_parameters(assumptions, "base"), horizon_years(assumptions))
    assert (df["value"] >= 0).all()
    mag = df[(df["material"] == "NdFeB") & (df["unit"] == "t_magnet") & (df["basis"] == "finished")]
    assert set(mag["segment"]) == set(assumptions.structure.segments)
    by_year = mag.groupby("year")["value"].sum()
    assert by_year.equals(total_magnet_t(df))


def test_a_commercial_segment_is_sales_times_car_motor_equivalents(assumptions):
    """ev_truck = trucks sold x car-motor equivalents x PM share x kg per car motor / 1000."""
    from forecast import params as parameters
    from forecast.drivers import driver_arrays

    params = resolve_parameters(assumptions, "base")
    years = horizon_years(assumptions)
    df = demand_for_params(assumptions, params, years)
    sel = (df["segment"] == "ev_truck") & (df["material"] == "NdFeB") & (df["basis"] == "finished")
    got = df[sel].set_index("year")["value"]
    drivers = driver_arrays(assumptions.histories(), params, years, assumptions.driver_trends)
    trucks = drivers["ev_commercial_sales.truck"]
    kg = parameters.value(params, "ev.motor_kg.BEV", years) * parameters.value(params, "ev.motor_kg_factor", years)
    expected = (
        trucks
        * parameters.value(params, "ev.commercial.truck.motor_equivalents", years)
        * parameters.value(params, "ev.pm_motor_share", years)
        * kg
        / 1000.0
    )
    assert np.allclose(got.to_numpy(), expected)


@SLOW_PROPERTIES
@given(k=st.floats(1.0, 1.8))
def test_more_electric_trucks_never_lower_model_demand(assumptions, k):
    base = resolve_parameters(assumptions, "base")
    years = horizon_years(assumptions)
    anchors = base["drivers.ev_commercial_sales.truck"].trajectory
    more = apply_overrides(base, {"drivers.ev_commercial_sales.truck": {y: v * k for y, v in anchors.items()}})
    lo = total_magnet_t(demand_for_params(assumptions, base, years))
    hi = total_magnet_t(demand_for_params(assumptions, more, years))
    assert (hi >= lo - 1e-9).all()
