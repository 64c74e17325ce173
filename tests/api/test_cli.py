"""The command line end to end, in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest

EXE = shutil.which("magnet-forecast") or str(Path(sys.executable).parent / "magnet-forecast")


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def test_demand_table_for_base_covers_every_year_to_2050():
    r = run("demand", "--scenario", "base")
    assert r.returncode == 0, r.stderr
    assert "2050" in r.stdout
    assert "ev_bev" in r.stdout
    assert "total" in r.stdout


def test_demand_csv_is_the_whole_tidy_table():
    r = run("demand", "--format", "csv", "--start", "2024", "--end", "2030")
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(StringIO(r.stdout))
    assert list(df.columns) == ["year", "scenario", "segment", "material", "basis", "unit", "value"]
    assert df["year"].min() == 2024
    assert df["year"].max() == 2030
    assert set(df["material"]) == {"NdFeB", "Nd", "Pr", "Dy", "Tb"}
    assert set(df["unit"]) == {"t_magnet", "t_metal", "t_oxide", "t_oxide_gross"}
    assert set(df["basis"]) == {"finished", "oxide"}


def test_demand_by_region_adds_up_to_the_world_and_names_ex_china():
    r = run("demand", "--by", "region", "--start", "2024", "--end", "2025")
    assert r.returncode == 0, r.stderr
    assert "ex_china" in r.stdout
    assert "united_states" in r.stdout
    assert "ex_china_share" in r.stdout
    csv = run("demand", "--by", "region", "--format", "csv", "--start", "2030", "--end", "2030")
    df = pd.read_csv(StringIO(csv.stdout))
    assert set(df["region"]) == {"china", "europe", "united_states", "rest_of_world"}
    world = run("demand", "--format", "csv", "--start", "2030", "--end", "2030")
    w = pd.read_csv(StringIO(world.stdout))
    m = df[(df["material"] == "NdFeB") & (df["basis"] == "finished")]["value"].sum()
    assert m == pytest.approx(w[(w["material"] == "NdFeB") & (w["basis"] == "finished")]["value"].sum(), rel=1e-9)
    refused = run("demand", "--by", "region", "--quantiles")
    assert refused.returncode != 0
    assert "--quantiles" in refused.stderr


def test_demand_on_the_blank_basis_is_the_finished_tonnage_over_the_machining_yield():
    calibration = json.loads(run("calibration", "--format", "json").stdout)
    served = "after" if calibration["uplift_applied"] else "before"  # an unreachable target moves nothing
    moved = {p["name"]: p[served] for p in calibration["parameters"]}
    machining_yield = moved.get("manufacturing.machining_yield", 0.75)
    finished = pd.read_csv(StringIO(run("demand", "--format", "csv", "--start", "2030", "--end", "2030").stdout))
    blank = pd.read_csv(
        StringIO(run("demand", "--format", "csv", "--basis", "blank", "--start", "2030", "--end", "2030").stdout)
    )
    f = finished[finished["material"] == "NdFeB"]["value"].sum()
    b = blank[blank["material"] == "NdFeB"]["value"].sum()
    assert b == pytest.approx(f / machining_yield, rel=1e-6)


def test_hindcast_json_reports_the_mape_over_the_published_years():
    r = run("hindcast", "--format", "json")
    assert r.returncode == 0, r.stderr
    h = json.loads(r.stdout)
    assert h["basis"] == "blank"
    assert h["n_years"] >= 6
    assert 0 <= h["mape"] <= 0.10
    assert {"year", "model_t", "published_t", "source"} <= set(h["rows"][0])


def test_demand_json_by_material():
    r = run("demand", "--format", "json", "--scenario", "thrifting", "--start", "2040", "--end", "2040")
    records = json.loads(r.stdout)
    assert {rec["scenario"] for rec in records} == {"thrifting"}
    r2 = run("demand", "--by", "material", "--start", "2040", "--end", "2041")
    assert "Dy t_oxide" in r2.stdout


def test_calibration_json_reports_ratio_and_moved_parameters():
    r = run("calibration", "--format", "json")
    c = json.loads(r.stdout)
    assert r.returncode == (0 if c["reachable"] else 1), r.stderr  # an unreachable target exits 1
    for key in ("target_ratio", "achieved_ratio", "uncalibrated_ratio", "base_year", "target_year", "parameters"):
        assert key in c
    if c["reachable"]:
        assert abs(c["achieved_ratio"] / c["target_ratio"] - 1) <= c["tolerance"]
    else:  # said, not forced: the base stays on the evidence
        assert c["reachable_ratio"] < c["target_ratio"]
        assert c["achieved_ratio"] == pytest.approx(c["uncalibrated_ratio"], rel=1e-9)
    assert {"low_t", "high_t", "evidence_t", "moved_t", "within"} <= set(c["end_uses"][0])
    assert {"name", "before", "after", "low", "high", "z"} <= set(c["parameters"][0])
    assert c["tension"]["chi2"] > 0
    assert 0 <= c["tension"]["p_value"] <= 1
    assert c["uplift_by_segment"]
    assert c["provenance"]["interpretation"]
    assert c["method"].startswith("minimum-norm")


def test_sensitivity_json_has_sweep_and_sobol_columns():
    r = run("sensitivity", "--year", "2030", "--output", "Dy", "--format", "json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert (s["scenario"], s["year"], s["output"]) == ("base", 2030, "Dy")
    row = s["parameters"][0]
    assert {"name", "low_value", "high_value", "output_low", "output_high", "S1", "ST"} <= set(row)


@pytest.mark.parametrize(
    "args, needle",
    [
        (("demand", "--scenario", "nope"), "unknown scenario 'nope'"),
        (("demand", "--start", "1800"), "--start 1800 is outside the horizon"),
        (("demand", "--start", "2040", "--end", "2030"), "after --end"),
    ],
)
def test_user_errors_exit_2_with_a_clear_message(args, needle):
    r = run(*args)
    assert r.returncode == 2
    assert needle in r.stderr
    assert "Traceback" not in r.stderr


def test_validate_ok_and_bad_directory(assumptions_copy):
    ok = run("assumptions", "validate", str(assumptions_copy))
    assert ok.returncode == 0
    assert ok.stdout.startswith("ok:")
    p = assumptions_copy / "parameters.yaml"
    p.write_text(p.read_text().replace("unit: kg_per_motor", "unit: kg_per_moth"))
    bad = run("assumptions", "validate", str(assumptions_copy))
    assert bad.returncode != 0
    assert "parameters.yaml: ev.motor_kg.BEV.unit" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_assumptions_env_var_selects_another_directory(assumptions_copy):
    p = assumptions_copy / "scenarios.yaml"
    p.write_text(
        p.read_text() + "  extra:\n    description: env test\n    source: project_assumption\n    overrides: {}\n"
    )
    r = run(
        "demand",
        "--scenario",
        "extra",
        "--start",
        "2030",
        "--end",
        "2030",
        env={"MAGNET_FORECAST_ASSUMPTIONS": str(assumptions_copy)},
    )
    assert r.returncode == 0, r.stderr
    r2 = run(
        "--assumptions", str(assumptions_copy), "demand", "--scenario", "extra", "--start", "2030", "--end", "2030"
    )
    assert r2.returncode == 0, r2.stderr


def test_gap_magnet_stage_json_has_the_documented_fields():
    r = run("gap", "--scenario", "base", "--stage", "magnet", "--format", "json", "--start", "2030", "--end", "2031")
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)[0]
    for key in (
        "year",
        "scenario",
        "region",
        "stage",
        "material",
        "demand_t",
        "supply_nameplate_t",
        "supply_risked_t",
        "gap_t",
        "coverage",
        "binding_stage",
    ):
        assert key in rec


def test_gap_table_and_supply_table():
    r = run("gap", "--stage", "magnet", "--region", "world", "--start", "2030", "--end", "2030")
    assert r.returncode == 0
    assert "binding_stage" in r.stdout
    s = run(
        "supply", "--weighting", "nameplate", "--stage", "magnet", "--format", "csv", "--start", "2030", "--end", "2030"
    )
    df = pd.read_csv(StringIO(s.stdout))
    assert set(df["stage"]) == {"magnet"}
    assert set(df["weighting"]) == {"nameplate"}


@pytest.mark.parametrize(
    "args", [("gap", "--region", "mars"), ("supply", "--stage", "smelting"), ("gap", "--scenario", "x")]
)
def test_gap_and_supply_reject_unknown_choices(args):
    r = run(*args)
    assert r.returncode == 2
    assert "expected one of" in r.stderr


def test_drivers_json_has_every_driver_with_bands_and_the_table_names_history():
    r = run("drivers", "--format", "json", "--start", "2030", "--end", "2030")
    assert r.returncode == 0, r.stderr
    records = json.loads(r.stdout)
    assert {rec["driver"] for rec in records} >= {
        "cars.market",
        "cars.electric",
        "units.industrial_robots",
        "ev_car_sales.BEV",
        "ev_car_sales.PHEV",
        "ev_commercial_sales.bus",
        "ev_commercial_sales.truck",
        "ev_commercial_sales.van",
        "wind_installs.onshore",
        "wind_installs.offshore",
    }
    assert all(rec["p5"] <= rec["value"] <= rec["p95"] for rec in records)
    table = run("drivers", "--start", "2023", "--end", "2026")
    assert "Last history year" in table.stdout
    assert "ev_car_sales.BEV 2025" in table.stdout
    assert run("drivers", "--scenario", "nope").returncode == 2


def test_csv_output_neutralises_formula_like_text(assumptions_copy):
    import copy

    import yaml

    path = assumptions_copy / "scenarios.yaml"
    data = yaml.safe_load(path.read_text())
    data["scenarios"]["-1+2"] = copy.deepcopy(data["scenarios"]["base"])  # a name a spreadsheet would compute
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    r = run(
        "demand",
        "--format",
        "csv",
        "--scenario=-1+2",
        "--start",
        "2030",
        "--end",
        "2030",
        env={"MAGNET_FORECAST_ASSUMPTIONS": str(assumptions_copy)},
    )
    assert r.returncode == 0, r.stderr
    assert set(pd.read_csv(StringIO(r.stdout))["scenario"]) == {"'-1+2"}


def test_demand_quantiles_band_every_row_of_the_chosen_basis_around_its_value():
    r = run(
        "demand",
        "--quantiles",
        "--basis",
        "blank",
        "--paths",
        "256",
        "--format",
        "csv",
        "--start",
        "2030",
        "--end",
        "2031",
    )
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(StringIO(r.stdout))
    assert set(df["basis"]) == {"blank", "oxide"}
    banded = df[df["unit"].isin(["t_magnet", "t_oxide"])]
    assert banded[["p5", "p10", "p50", "p90", "p95"]].notna().all().all()
    assert (banded["p5"] <= banded["p50"]).all() and (banded["p50"] <= banded["p95"]).all()
    assert banded["p50"].to_numpy() == pytest.approx(banded["value"].to_numpy(), rel=1e-6)  # P50 = central path
