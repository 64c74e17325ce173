"""What-if inputs, bands on POST /v1/forecast, POST /v1/compare and the workbook, against a real uvicorn."""

from __future__ import annotations

import io

import openpyxl
import pandas as pd
import pytest

YEAR = 2040


def _total(records, year=YEAR):
    return next(
        r
        for r in records
        if r["segment"] == "total" and r["material"] == "NdFeB" and r["unit"] == "t_magnet" and r["year"] == year
    )


def test_what_if_inputs_are_bounded_with_unit_and_source(client):
    r = client.get("/v1/what-if/inputs", params={"scenario": "base"})
    assert r.status_code == 200, r.text
    inputs = r.json()["inputs"]
    names = {i["name"] for i in inputs}
    assert {"ev.motor_kg.BEV", "ev.pm_motor_share", "recycling.eol_collection_rate"} <= names
    assert any(i["kind"] == "share" for i in inputs)
    assert any(i["kind"] == "path" for i in inputs)
    for i in inputs:
        assert i["low"] <= i["value"] <= i["high"], i["name"]
        assert i["unit"], i["name"]
        assert i["source"]["title"], i["name"]
        assert i["source"]["url"], i["name"]
    share = next(i for i in inputs if i["kind"] == "share")
    assert sum(share["group_values"].values()) == pytest.approx(1.0, abs=1e-6)


def test_what_if_inputs_refuse_an_unknown_scenario(client):
    r = client.get("/v1/what-if/inputs", params={"scenario": "nope"})
    assert r.status_code == 422
    assert r.json()["details"][0]["parameter"] == "scenario"


def test_forecast_with_bands_moves_with_kg_per_motor(client):
    body = {"scenario": "base", "quantiles": True, "start": 2035, "end": YEAR}
    low = client.post("/v1/forecast", json={**body, "overrides": {"ev.motor_kg.BEV": 1.1}}).json()
    high = client.post("/v1/forecast", json={**body, "overrides": {"ev.motor_kg.BEV": 2.0}}).json()
    lo, hi = _total(low["demand"]), _total(high["demand"])
    assert hi["value"] > lo["value"] * 1.05
    for t in (lo, hi):
        assert t["p5"] < t["p50"] < t["p95"]
    gap = {r["chain"]: r["gap_t"] for r in high["gap"] if r["year"] == YEAR and r["stage"] == "chain"}
    gap_lo = {r["chain"]: r["gap_t"] for r in low["gap"] if r["year"] == YEAR and r["stage"] == "chain"}
    assert gap
    assert all(gap[c] > gap_lo[c] for c in gap)
    assert {r["basis"] for r in high["demand"]} == {"finished", "oxide"}


def test_an_override_outside_its_range_is_refused_naming_it(client):
    r = client.post("/v1/forecast", json={"scenario": "base", "overrides": {"ev.motor_kg.BEV": 9}})
    assert r.status_code == 422
    detail = r.json()["details"][0]
    assert detail["parameter"] == "overrides.ev.motor_kg.BEV"
    assert detail["allowed"] == [1.1, 2.0]
    assert "outside its range" in detail["message"]


def test_compare_puts_scenarios_and_a_what_if_side_by_side(client):
    body = {
        "scenarios": ["base", "high"],
        "what_if": {"scenario": "base", "overrides": {"ev.motor_kg.BEV": 1.2}},
        "by": "total",
        "start": 2030,
        "end": YEAR,
    }
    r = client.post("/v1/compare", json=body)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["scenarios"] == ["base", "high", "what-if"]
    at = {rec["scenario"]: rec for rec in d["records"] if rec["year"] == YEAR}
    assert at["what-if"]["value"] < at["base"]["value"]  # 1.2 kg is below the base's motor mass (1.5 kg or more)
    assert all(at[s]["p5"] <= at[s]["value"] * 1.2 and at[s]["p95"] >= at[s]["p5"] for s in at)
    base = client.get("/v1/demand", params={"scenario": "base", "element": "NdFeB", "unit": "t_magnet"}).json()
    base_2040 = sum(rec["value"] for rec in base["records"] if rec["year"] == YEAR)
    assert at["base"]["value"] == pytest.approx(base_2040, rel=1e-9)


def test_compare_csv_carries_the_version_and_equals_the_json(client):
    body = {"scenarios": ["base", "thrifting"], "by": "element", "unit": "oxide", "start": 2040, "end": 2040}
    js = client.post("/v1/compare", json=body).json()
    r = client.post("/v1/compare?format=csv", json=body)
    assert r.headers["content-type"].startswith("text/csv")
    df = pd.read_csv(io.StringIO(r.text))
    assert set(df["assumptions_version"]) == {js["assumptions_version"]}
    assert df["value"].tolist() == pytest.approx([rec["value"] for rec in js["records"]])
    assert set(df["item"]) == {"Nd", "Pr", "Dy", "Tb"}
    assert set(df["unit"]) == {"t_oxide"}


def test_compare_gap_per_chain_with_a_what_if(client):
    body = {
        "scenarios": ["base"],
        "what_if": {"scenario": "base", "overrides": {"ev.motor_kg.BEV": 1.2}},
        "measure": "gap",
        "start": 2045,
        "end": 2050,
    }
    d = client.post("/v1/compare", json=body).json()
    at = {(rec["scenario"], rec["item"]): rec["value"] for rec in d["records"] if rec["year"] == 2050}
    assert set(at) == {(s, c) for s in ("base", "what-if") for c in ("outside_china", "china_free")}
    assert at[("what-if", "outside_china")] < at[("base", "outside_china")]  # lighter motors, smaller gap


@pytest.mark.parametrize(
    "body, parameter",
    [
        ({"scenarios": ["base", "nope"]}, "scenario"),
        ({"scenarios": ["base"], "measure": "gap", "by": "segment"}, "by"),
        ({"scenarios": ["base"], "what_if": {"scenario": "base", "overrides": {"ev.motor_kg.BEV": 5}}}, None),
        ({"scenarios": []}, None),
        ({"scenarios": ["base"], "unit": "kg"}, None),
    ],
)
def test_compare_refuses_bad_input_with_a_named_field(client, body, parameter):
    r = client.post("/v1/compare", json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["details"][0]
    assert detail["message"]
    if parameter:
        assert detail["parameter"] == parameter


def test_workbook_has_a_sheet_per_table_numbers_as_numbers(client):
    r = client.get("/v1/export.xlsx")  # in process: the TestClient applies no timeout
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    version = r.headers["x-assumptions-version"]
    assert version in r.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(r.content), read_only=True)
    for sheet in ("version", "demand", "elements", "drivers", "supply by stage", "gap", "balance", "calibration"):
        assert sheet in book.sheetnames
    for sheet in ("backtest", "hindcast", "parameters", "sources"):
        assert sheet in book.sheetnames
    about = {row[0]: row[1] for row in book["version"].iter_rows(min_row=2, max_row=6, values_only=True)}
    assert about["assumptions_version"] == version
    header = [c.value for c in next(book["demand"].iter_rows(min_row=1, max_row=1))]
    assert header[:7] == ["year", "scenario", "segment", "material", "basis", "unit", "value"]
    first = next(book["demand"].iter_rows(min_row=2, max_row=2))
    assert first[0].data_type == "n"
    assert first[6].data_type == "n"
    assert isinstance(first[6].value, float)
    sources = list(book["sources"].iter_rows(min_row=2, values_only=True))
    assert len(sources) >= 20
    assert all(str(row[4]).startswith(("http", "assumptions/")) for row in sources)
    r2 = client.get("/v1/export.xlsx", headers={"If-None-Match": r.headers["etag"]})
    assert r2.status_code == 304
