"""Demand by region: the split adds up to the world, follows the published history, and feeds the gap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecast.bundle import demand_inputs
from forecast.model import demand_for_params
from forecast.regions import observed_region_values, regional_demand_for_params, segment_shares
from forecast.scenarios import resolve_parameters
from forecast.schemas import EX_CHINA_REGIONS, REGIONS

YEARS = np.arange(2015, 2041)
KEYS = ["year", "segment", "material", "basis", "unit"]


@pytest.fixture(scope="module")
def params(assumptions):
    return resolve_parameters(assumptions, "base")


@pytest.fixture(scope="module")
def world(assumptions, params):
    return demand_for_params(assumptions, params, YEARS)


@pytest.fixture(scope="module")
def regional(assumptions, params, world):
    return regional_demand_for_params(assumptions, params, world, YEARS)


def test_regions_sum_to_the_world_on_every_segment_year_material_and_basis(world, regional):
    assert set(regional["region"]) == set(REGIONS)
    summed = regional.groupby(KEYS)["value"].sum()
    w = world.set_index(KEYS)["value"].reindex(summed.index)
    np.testing.assert_allclose(summed.to_numpy(), w.to_numpy(), rtol=1e-12, atol=1e-9)
    assert len(regional) == len(REGIONS) * len(world)
    assert (regional["value"] >= 0).all()


def test_shares_lie_in_zero_one_and_sum_to_one(assumptions, params):
    for seg, shares in segment_shares(assumptions, params, YEARS).items():
        stacked = np.vstack([shares[r] for r in REGIONS])
        assert ((stacked >= 0) & (stacked <= 1)).all(), seg
        np.testing.assert_allclose(stacked.sum(axis=0), 1.0, rtol=1e-12, err_msg=seg)


def _history_share(table: pd.DataFrame, region: str, year: int, part: str, column: str) -> float:
    rows = table[(table["year"] == year) & (table[column] == part)].set_index("region")["value"]
    return float(rows[region] / rows["World"])


def test_base_year_electric_car_split_is_the_published_history(assumptions, params):
    ev = assumptions.ev_car_sales
    shares = segment_shares(assumptions, params, YEARS)
    i = int(np.flatnonzero(YEARS == 2024)[0])
    for seg, part in (("ev_bev", "BEV"), ("ev_phev", "PHEV")):
        named = 0.0
        for label, region in (("China", "china"), ("Europe", "europe"), ("United States", "united_states")):
            want = _history_share(ev, label, 2024, part, "powertrain")
            named += want
            assert shares[seg][region][i] == pytest.approx(want, rel=1e-9), (seg, region)
        assert shares[seg]["rest_of_world"][i] == pytest.approx(1 - named, rel=1e-9)


def test_base_year_wind_china_split_is_the_published_history(assumptions, params):
    wind = assumptions.wind_installations
    shares = segment_shares(assumptions, params, YEARS)
    i = int(np.flatnonzero(YEARS == 2024)[0])
    for seg, part in (("wind_onshore", "onshore"), ("wind_offshore", "offshore")):
        want = _history_share(wind, "China", 2024, part, "location")
        assert shares[seg]["china"][i] == pytest.approx(want, rel=1e-9)
        rest = sum(shares[seg][r][i] for r in EX_CHINA_REGIONS)
        assert rest == pytest.approx(1 - want, rel=1e-9)


def test_a_changed_regional_history_value_moves_the_base_year_split(assumptions, params):
    ev = assumptions.ev_car_sales.copy()
    row = (ev["year"] == 2024) & (ev["region"] == "Europe") & (ev["powertrain"] == "BEV")
    ev.loc[row, "value"] = ev.loc[row, "value"] * 1.5
    changed = assumptions.model_copy(update={"ev_car_sales": ev})
    i = int(np.flatnonzero(YEARS == 2024)[0])
    before = segment_shares(assumptions, params, YEARS)["ev_bev"]
    after = segment_shares(changed, params, YEARS)["ev_bev"]
    assert after["europe"][i] == pytest.approx(before["europe"][i] * 1.5, rel=1e-9)
    assert after["rest_of_world"][i] < before["rest_of_world"][i]
    assert after["china"][i] == pytest.approx(before["china"][i], rel=1e-12)


def test_gap_ex_china_demand_is_the_sum_of_the_regions_outside_china(assumptions, params):
    years = np.array([2024, 2030, 2040])
    materials, _, _ = demand_inputs(assumptions, params, years)
    world = demand_for_params(assumptions, params, years)
    regional = regional_demand_for_params(assumptions, params, world, years)
    ndfeb = regional[(regional["material"] == "NdFeB") & (regional["basis"] == "blank")]
    outside = ndfeb[ndfeb["region"].isin(EX_CHINA_REGIONS)].groupby("year")["value"].sum()
    in_gap = materials[(materials["region"] == "ex_china") & (materials["material"] == "NdFeB")]
    np.testing.assert_allclose(in_gap.set_index("year")["demand_t"].loc[years], outside.loc[years], rtol=1e-12)
    total = ndfeb.groupby("year")["value"].sum()
    in_world = materials[(materials["region"] == "world") & (materials["material"] == "NdFeB")]
    np.testing.assert_allclose(in_world.set_index("year")["demand_t"].loc[years], total.loc[years], rtol=1e-12)


def _ex_china_t(assumptions, params, years: np.ndarray) -> np.ndarray:
    world = demand_for_params(assumptions, params, years)
    regional = regional_demand_for_params(assumptions, params, world, years)
    m = regional[
        (regional["material"] == "NdFeB")
        & (regional["basis"] == "finished")
        & regional["region"].isin(EX_CHINA_REGIONS)
    ]
    return m.groupby("year")["value"].sum().reindex(years).to_numpy()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    year=st.integers(min_value=2015, max_value=2025),
    powertrain=st.sampled_from(["BEV", "PHEV"]),
    extra=st.floats(min_value=0.0, max_value=3_000_000.0),
)
def test_more_ev_sales_in_europe_never_lower_ex_china_demand(assumptions, params, year, powertrain, extra):
    """Europe sells more (and so does the world, by the same cars): ex-China demand never falls."""
    ev = assumptions.ev_car_sales.copy()
    for region in ("Europe", "World"):
        row = (ev["year"] == year) & (ev["region"] == region) & (ev["powertrain"] == powertrain)
        ev.loc[row, "value"] = ev.loc[row, "value"] + extra
    changed = assumptions.model_copy(update={"ev_car_sales": ev})
    years = np.arange(2015, year + 1)  # the observed years up to the change (the world's own fit moves later years)
    before = _ex_china_t(assumptions, params, years)
    after = _ex_china_t(changed, params, years)
    assert (after >= before * (1 - 1e-12)).all()


def _load_errors(directory) -> list[str]:
    from forecast.loading import AssumptionsError, load_assumptions

    with pytest.raises(AssumptionsError) as err:
        load_assumptions(directory)
    return [str(p) for p in err.value.problems]


def test_a_regional_share_outside_zero_one_is_one_error_naming_file_and_field(assumptions_copy):
    from tests.conftest import edit_parameters

    def edit(data):
        p = data["regions.robots.share.china"]
        p.update(value=1.2, high=1.5)

    edit_parameters(assumptions_copy, edit)
    errors = [e for e in _load_errors(assumptions_copy) if "regions.robots.share.china" in e]
    assert errors == ["parameters.yaml: regions.robots.share.china.high: share 1.5 outside [0, 1]"]


def test_regional_shares_not_summing_to_one_name_the_split(assumptions_copy):
    from tests.conftest import edit_parameters

    edit_parameters(assumptions_copy, lambda d: d["regions.robots.share.europe"].update(value=0.2))
    errors = _load_errors(assumptions_copy)
    assert len(errors) == 1
    assert errors[0].startswith("parameters.yaml: regions.robots.share.*: shares sum to 1.0300")


def test_a_missing_region_is_named(assumptions_copy):
    from tests.conftest import edit_parameters

    edit_parameters(assumptions_copy, lambda d: d.pop("regions.air_conditioners.share.united_states"))
    errors = _load_errors(assumptions_copy)
    assert any(e.startswith("parameters.yaml: regions.air_conditioners.share.united_states: missing") for e in errors)


def test_a_regional_history_above_the_world_names_file_row_and_field(assumptions_copy):
    path = assumptions_copy / "series" / "ev_car_sales.csv"
    lines = path.read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("2024,China,BEV,"))
    lines[i] = lines[i].replace("2024,China,BEV,6400000", "2024,China,BEV,16400000")
    path.write_text("\n".join(lines) + "\n")
    errors = _load_errors(assumptions_copy)
    assert len(errors) == 1
    assert errors[0].startswith(f"series/ev_car_sales.csv: row {i + 1}.value: China, Europe, United States in 2024 BEV")
    assert "expected regional shares in [0, 1]" in errors[0]


def test_a_segment_without_a_regional_split_is_named(assumptions_copy):
    path = assumptions_copy / "structure.yaml"
    path.write_text(path.read_text().replace("    region_split: smartphones\n", "", 1))
    errors = _load_errors(assumptions_copy)
    assert any(e.startswith("structure.yaml: segments.smartphones.region_split: got None") for e in errors)


def test_observed_values_sum_parts_by_region_and_year_without_rows_lacking_a_region():
    history = pd.DataFrame(
        {
            "year": [2020, 2020, 2020, 2021, 2021, 2021],
            "region": ["World", "World", "China", "World", None, "China"],
            "value": [10.0, 5.0, 4.0, 12.0, 99.0, np.nan],
            "powertrain": ["BEV", "PHEV", "BEV", "BEV", "BEV", "PHEV"],
        }
    ).astype({"region": "str", "powertrain": "str"})
    assert observed_region_values(history, "powertrain", "total") == {
        "World": {2020: 15.0, 2021: 12.0},
        "China": {2020: 4.0, 2021: 0.0},
    }
    assert observed_region_values(history, "powertrain", "PHEV") == {"World": {2020: 5.0}, "China": {2021: 0.0}}
    grouped = history.groupby(["region", "year"])["value"].sum()
    assert {(r, y): v for (r, y), v in grouped.items()} == {
        (r, y): v
        for r, by_year in observed_region_values(history, "powertrain", "total").items()
        for y, v in by_year.items()
    }
