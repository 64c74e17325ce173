"""Validation of assumption directories: one clear message per problem, naming file and place."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from forecast.loading import AssumptionsError, load_assumptions


def _edit_yaml(path: Path, edit) -> None:
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _problems(directory: Path) -> list[str]:
    with pytest.raises(AssumptionsError) as exc:
        load_assumptions(directory)
    return [str(p) for p in exc.value.problems]


def test_bundled_assumptions_are_valid(assumptions):
    assert "base" in assumptions.scenarios
    assert len(assumptions.parameters) > 40


def test_every_parameter_has_unit_range_and_known_source(assumptions):
    for name, p in assumptions.parameters.items():
        assert p.unit, name
        assert p.low <= p.high, name
        assert p.source in assumptions.sources, name


def test_every_series_row_cites_a_known_source(assumptions):
    for df in (assumptions.ev_car_sales, assumptions.wind_installations):
        assert set(df["source"]) <= set(assumptions.sources)


def test_every_source_has_title_publisher_year_url(assumptions):
    for sid, s in assumptions.sources.items():
        assert s.title, sid
        assert s.publisher, sid
        assert s.year, sid
        assert s.url, sid


def test_missing_source_is_named(assumptions_copy):
    _edit_yaml(assumptions_copy / "parameters.yaml", lambda d: d["ev.motor_kg.BEV"].pop("source"))
    msgs = _problems(assumptions_copy)
    assert any("parameters.yaml: ev.motor_kg.BEV.source" in m and "Field required" in m for m in msgs)


def test_unknown_source_id_is_named(assumptions_copy):
    _edit_yaml(assumptions_copy / "parameters.yaml", lambda d: d["ev.motor_kg.BEV"].update(source="nobody_2099"))
    msgs = _problems(assumptions_copy)
    assert any("ev.motor_kg.BEV.source" in m and "nobody_2099" in m for m in msgs)


def test_unknown_unit_is_named(assumptions_copy):
    _edit_yaml(assumptions_copy / "parameters.yaml", lambda d: d["ev.motor_kg.BEV"].update(unit="furlongs"))
    msgs = _problems(assumptions_copy)
    assert any("ev.motor_kg.BEV.unit" in m and "furlongs" in m for m in msgs)


def test_negative_value_is_rejected(assumptions_copy):
    _edit_yaml(assumptions_copy / "parameters.yaml", lambda d: d["ev.motor_kg.BEV"].update(value=-1, low=-2))
    msgs = _problems(assumptions_copy)
    assert any("ev.motor_kg.BEV" in m and "negative" in m for m in msgs)


def test_non_numeric_value_is_rejected(assumptions_copy):
    _edit_yaml(assumptions_copy / "parameters.yaml", lambda d: d["ev.motor_kg.BEV"].update(value="lots"))
    msgs = _problems(assumptions_copy)
    assert any("ev.motor_kg.BEV.value" in m and "lots" in m for m in msgs)


def test_range_low_above_high_is_rejected(assumptions_copy):
    _edit_yaml(assumptions_copy / "parameters.yaml", lambda d: d["ev.motor_kg.BEV"].update(low=3.0, high=2.0))
    msgs = _problems(assumptions_copy)
    assert any("ev.motor_kg.BEV" in m and "low 3.0 > high 2.0" in m for m in msgs)


def test_shares_not_summing_to_one_are_rejected(assumptions_copy):
    _edit_yaml(
        assumptions_copy / "parameters.yaml",
        lambda d: d["wind.onshore.share.direct_drive"].update(trajectory={2024: 0.5, 2050: 0.25}),
    )
    msgs = _problems(assumptions_copy)
    assert any("wind.onshore.share" in m and "expected 1" in m for m in msgs)


def test_duplicate_year_names_the_row(assumptions_copy):
    path = assumptions_copy / "series" / "ev_car_sales.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[1]]) + "\n")
    msgs = _problems(assumptions_copy)
    assert any(f"ev_car_sales.csv: row {len(lines) + 1}: duplicate year 2012" in m for m in msgs)


def test_an_end_use_outside_its_own_range_names_the_row(assumptions_copy):
    path = assumptions_copy / "series" / "ndfeb_end_use.csv"
    lines = path.read_text().splitlines()
    row = next(i for i, ln in enumerate(lines) if ln.startswith("2024,World,new_energy_vehicles"))
    cells = lines[row].split(",")
    cells[7] = "50000"  # low above the published value
    lines[row] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    msgs = _problems(assumptions_copy)
    assert any(f"ndfeb_end_use.csv: row {row + 1}" in m and "low <= value <= high" in m for m in msgs), msgs


def test_an_end_use_without_an_upper_bound_is_a_lower_bound(assumptions_copy):
    path = assumptions_copy / "series" / "ndfeb_end_use.csv"
    lines = path.read_text().splitlines()
    row = next(i for i, ln in enumerate(lines) if ln.startswith("2025,World,new_energy_vehicles"))
    cells = lines[row].split(",")
    cells[8] = ""
    lines[row] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    uses = load_assumptions(assumptions_copy).ndfeb_end_use
    high = uses[(uses["year"] == 2025) & (uses["end_use"] == "new_energy_vehicles")]["high"].iloc[0]
    assert high is None or high != high  # None or NaN: no upper bound


def _drop_rows(path: Path, prefix: str) -> None:
    """Remove the CSV rows that start with ``prefix``."""
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith(prefix)]
    path.write_text("\n".join(lines) + "\n")


def test_missing_year_is_reported(assumptions_copy):
    _drop_rows(assumptions_copy / "series" / "wind_installations.csv", "2020,World,")
    msgs = _problems(assumptions_copy)
    assert any("wind_installations.csv: World: missing years [2020]" in m for m in msgs)


def test_incomplete_split_is_reported(assumptions_copy):
    _drop_rows(assumptions_copy / "series" / "wind_installations.csv", "2020,World,onshore")
    msgs = _problems(assumptions_copy)
    assert any("World 2020: split incomplete, missing ['onshore']" in m for m in msgs)


def test_total_row_beside_split_rows_is_reported(assumptions_copy):
    path = assumptions_copy / "series" / "ev_car_sales.csv"
    lines = path.read_text().splitlines()
    lines.append("2013,World,total,201000,vehicles,iea_gevo_2024_data,")
    path.write_text("\n".join(lines) + "\n")
    msgs = _problems(assumptions_copy)
    assert any(f"row {len(lines)}: World 2013: a total row and split rows" in m for m in msgs)


def test_a_year_given_as_total_only_is_accepted(assumptions_copy):
    path = assumptions_copy / "series" / "wind_installations.csv"
    _drop_rows(path, "2020,World,")
    path.write_text(path.read_text() + "2020,World,total,93.0,GW,gwec_gwr_2021,\n")
    a = load_assumptions(assumptions_copy)
    w = a.wind_installations
    row = w[(w["year"] == 2020) & (w["region"] == "World")]
    assert row["location"].tolist() == ["total"]
    assert row["value"].tolist() == [93.0]


def test_bad_csv_value_names_row_and_value(assumptions_copy):
    path = assumptions_copy / "series" / "ev_car_sales.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace(",vehicles,", ",vehicles,").replace("2013,World,BEV,110000", "2013,World,BEV,NaN")
    lines[5] = lines[5].replace("vehicles", "cars")
    path.write_text("\n".join(lines) + "\n")
    msgs = _problems(assumptions_copy)
    assert any("row 4" in m and "value" in m for m in msgs), msgs
    assert any("row 6" in m and "unit" in m and "cars" in m for m in msgs), msgs


def test_every_problem_is_reported_not_just_the_first(assumptions_copy):
    def edit(d):
        d["ev.motor_kg.BEV"].update(unit="furlongs")
        d["manufacturing.machining_yield"].update(low=0.9, high=0.1)

    _edit_yaml(assumptions_copy / "parameters.yaml", edit)
    msgs = _problems(assumptions_copy)
    assert any("ev.motor_kg.BEV" in m for m in msgs)
    assert any("manufacturing.machining_yield" in m for m in msgs)


def test_invalid_yaml_names_the_line(assumptions_copy):
    (assumptions_copy / "scenarios.yaml").write_text("scenarios:\n  base: [unclosed\n")
    msgs = _problems(assumptions_copy)
    assert any(m.startswith("scenarios.yaml: line") for m in msgs)


def test_wrong_encoding_is_reported(assumptions_copy):
    (assumptions_copy / "model.yaml").write_bytes("horizon: caf\xe9".encode("latin-1"))
    msgs = _problems(assumptions_copy)
    assert any("model.yaml" in m and "UTF-8" in m for m in msgs)


def test_missing_required_parameter_is_reported(assumptions_copy):
    _edit_yaml(assumptions_copy / "parameters.yaml", lambda d: d.pop("wind.t_per_mw.direct_drive"))
    msgs = _problems(assumptions_copy)
    assert (
        "parameters.yaml: wind.t_per_mw.direct_drive: missing; the model needs this parameter "
        "(t_per_MW, read by demand)"
    ) in msgs


def test_scenario_override_of_unknown_or_out_of_range_parameter(assumptions_copy):
    def edit(d):
        d["scenarios"]["bad"] = {
            "description": "x",
            "source": "project_assumption",
            "overrides": {"no.such": 1.0, "ev.motor_kg.BEV": 9.0},
        }

    _edit_yaml(assumptions_copy / "scenarios.yaml", edit)
    msgs = _problems(assumptions_copy)
    assert any("scenarios.bad.overrides.no.such" in m and "unknown parameter" in m for m in msgs)
    assert any("scenarios.bad.overrides.ev.motor_kg.BEV" in m and "outside its range" in m for m in msgs)


def test_missing_directory(tmp_path):
    msgs = _problems(tmp_path / "nowhere")
    assert "not found" in msgs[0]


def test_regional_electric_car_sales_add_up_to_the_world(assumptions):
    df = assumptions.ev_car_sales
    regions = df[df["region"] != "World"].groupby(["year", "powertrain"])["value"].sum()
    world = df[df["region"] == "World"].set_index(["year", "powertrain"])["value"]
    assert (regions.loc[world.index] == world).all()


def test_formula_cells_are_rejected(assumptions_copy):
    path = assumptions_copy / "series" / "ev_car_sales.csv"
    lines = path.read_text().splitlines()
    lines[1] = lines[1].rstrip(",") + ',=HYPERLINK("http://x")'
    path.write_text("\n".join(lines) + "\n")
    msgs = _problems(assumptions_copy)
    assert any("row 2.note" in m and "formula-like" in m for m in msgs)


def test_a_scenario_without_a_source_is_rejected(assumptions_copy):
    _edit_yaml(assumptions_copy / "scenarios.yaml", lambda d: d["scenarios"]["high"].pop("source"))
    msgs = _problems(assumptions_copy)
    assert any("scenarios.yaml: high.source" in m for m in msgs), msgs


def test_a_missing_year_of_one_commercial_mode_is_reported(assumptions_copy):
    """Buses, trucks and vans are separate series: a gap in one names that one."""
    _drop_rows(assumptions_copy / "series" / "ev_commercial_sales.csv", "2018,World,bus,")
    msgs = _problems(assumptions_copy)
    assert "series/ev_commercial_sales.csv: World/bus: missing years [2018]; expected one entry per year" in msgs
    assert not any("World/truck" in m or "World/van" in m for m in msgs)


def test_an_unknown_commercial_mode_is_rejected(assumptions_copy):
    path = assumptions_copy / "series" / "ev_commercial_sales.csv"
    path.write_text(path.read_text() + "2023,World,tractor,5,vehicles,iea_gevo_2024_data,\n")
    msgs = _problems(assumptions_copy)
    assert any("ev_commercial_sales.csv: row" in m and "mode" in m and "tractor" in m for m in msgs)


def test_every_segment_needs_a_lifetime_for_the_end_of_life_model(assumptions_copy):
    _edit_yaml(assumptions_copy / "parameters.yaml", lambda d: d.pop("lifetime.ev_truck.mean_years"))
    msgs = _problems(assumptions_copy)
    assert any(m.startswith("parameters.yaml: lifetime.ev_truck.mean_years: missing; the model needs") for m in msgs)


def test_an_intensity_in_a_unit_that_is_not_magnet_per_unit_is_named(assumptions_copy):
    _edit_yaml(
        assumptions_copy / "parameters.yaml", lambda d: d["robots.industrial.kg_per_unit"].update(unit="fraction")
    )
    msgs = _problems(assumptions_copy)
    assert any("robots.industrial.kg_per_unit.unit" in m and "not a magnet intensity" in m for m in msgs), msgs


def test_an_intensity_without_its_basis_is_named(assumptions_copy):
    _edit_yaml(assumptions_copy / "parameters.yaml", lambda d: d["aircon.kg_per_inverter_unit"].pop("basis"))
    msgs = _problems(assumptions_copy)
    assert any("aircon.kg_per_inverter_unit.basis" in m and "finished, blank or alloy" in m for m in msgs), msgs


def test_a_missing_segment_input_is_named(assumptions_copy):
    _edit_yaml(assumptions_copy / "parameters.yaml", lambda d: d.pop("e2w.kg_per_vehicle"))
    msgs = _problems(assumptions_copy)
    assert any("e2w.kg_per_vehicle" in m and "missing" in m for m in msgs), msgs


def test_a_hole_in_a_unit_driver_series_names_the_years(assumptions_copy):
    path = assumptions_copy / "series" / "unit_sales.csv"
    _drop_rows(path, "2019,World,industrial_robots,")
    msgs = _problems(assumptions_copy)
    assert any("unit_sales.csv" in m and "World/industrial_robots" in m and "[2019]" in m for m in msgs), msgs


def test_a_unit_series_row_for_an_undeclared_driver_is_named(assumptions_copy):
    path = assumptions_copy / "series" / "unit_sales.csv"
    path.write_text(path.read_text() + "2020,World,toasters,1000,units,idc_smartphones,\n")
    msgs = _problems(assumptions_copy)
    assert any("unit_sales.csv" in m and "toasters" in m and "unknown driver" in m for m in msgs), msgs


# --- Hostile or foreign files ----------------------------------------------------------------------


def test_a_csv_saved_with_a_byte_order_mark_is_read(assumptions_copy, assumptions):
    path = assumptions_copy / "supply" / "projects.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # Excel's "CSV UTF-8"
    loaded = load_assumptions(assumptions_copy)
    assert [p.id for p in loaded.projects] == [p.id for p in assumptions.projects]


def test_yaml_anchors_and_aliases_are_refused_before_they_expand(assumptions_copy):
    laughs = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    laughs += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    (assumptions_copy / "model.yaml").write_text("\n".join(laughs) + "\n")
    problems = _problems(assumptions_copy)
    assert any(p.startswith("model.yaml: line 1") and "anchors and aliases are not allowed" in p for p in problems)


def test_an_oversized_yaml_file_is_refused_without_parsing(assumptions_copy):
    from forecast.loading import MAX_YAML_BYTES

    (assumptions_copy / "scenarios.yaml").write_text("# " + "x" * MAX_YAML_BYTES + "\n")
    assert any(p.startswith("scenarios.yaml: file") and "at most" in p for p in _problems(assumptions_copy))
