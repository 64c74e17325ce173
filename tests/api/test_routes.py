"""Every endpoint and format, in process, with version, caching and errors."""

from __future__ import annotations

import gzip
import io
import json

import pandas as pd
import pytest

GETS = [
    "/health",
    "/ready",
    "/v1/scenarios",
    "/v1/demand?scenario=base",
    "/v1/supply",
    "/v1/gap?scenario=base&stage=magnet",
    "/v1/calibration",
    "/v1/assumptions",
    "/v1/backtest",
    "/v1/drivers",
    "/v1/sensitivity",
]


@pytest.mark.parametrize("path", GETS)
def test_every_response_carries_the_assumptions_version(client, path):
    r = client.get(path)
    assert r.status_code == 200, r.text
    version = r.headers["x-assumptions-version"]
    assert len(version) == 12
    assert r.json()["assumptions_version"] == version
    assert r.headers["x-request-id"]


def test_demand_filters_and_units(client):
    r = client.get(
        "/v1/demand", params={"scenario": "high", "start": 2030, "end": 2032, "element": "Dy", "unit": "t_oxide"}
    )
    recs = r.json()["records"]
    assert {x["year"] for x in recs} == {2030, 2031, 2032}
    assert {x["material"] for x in recs} == {"Dy"}
    assert {x["unit"] for x in recs} == {"t_oxide"}
    assert {x["scenario"] for x in recs} == {"high"}
    seg = client.get("/v1/demand", params={"segment": "wind_offshore", "element": "NdFeB"}).json()["records"]
    assert {x["segment"] for x in seg} == {"wind_offshore"}
    assert len(seg) == 36


def test_demand_by_region_adds_up_to_the_world(client):
    q = {"start": 2030, "end": 2030, "element": "NdFeB", "unit": "t_magnet"}
    world = client.get("/v1/demand", params=q).json()["records"]
    regional = client.get("/v1/demand", params={**q, "by": "region"}).json()["records"]
    assert {x["region"] for x in regional} == {"china", "europe", "united_states", "rest_of_world"}
    assert sum(x["value"] for x in regional) == pytest.approx(sum(x["value"] for x in world), rel=1e-9)
    europe = client.get("/v1/demand", params={**q, "by": "region", "region": "europe"}).json()["records"]
    assert {x["region"] for x in europe} == {"europe"}
    assert client.get("/v1/demand", params={**q, "region": "europe"}).status_code == 422
    assert client.get("/v1/demand", params={**q, "by": "region", "region": "mars"}).status_code == 422


def test_csv_by_query_and_by_accept_header(client):
    a = client.get("/v1/demand", params={"format": "csv", "start": 2040, "end": 2040})
    b = client.get("/v1/demand", params={"start": 2040, "end": 2040}, headers={"Accept": "text/csv"})
    assert a.headers["content-type"].startswith("text/csv")
    assert a.text == b.text
    df = pd.read_csv(io.StringIO(a.text))
    assert list(df.columns[:2]) == ["assumptions_version", "year"]
    assert (df["assumptions_version"] == a.headers["x-assumptions-version"]).all()


def test_gap_json_and_csv_agree(client):
    q = {"stage": "magnet", "region": "ex_china", "element": "NdFeB", "chain": "outside_china"}
    j = client.get("/v1/gap", params=q).json()["records"]
    c = pd.read_csv(io.StringIO(client.get("/v1/gap", params={**q, "format": "csv"}).text))
    assert len(j) == len(c) == 36
    assert c["gap_t"].tolist() == pytest.approx([x["gap_t"] for x in j])
    assert {x["binding_stage"] for x in j} <= {"mine", "separation", "metal", "alloy", "magnet"}


def test_supply_filters(client):
    recs = client.get("/v1/supply", params={"stage": "magnet", "weighting": "risked"}).json()["records"]
    assert {(x["stage"], x["weighting"]) for x in recs} == {("magnet", "risked")}


def test_etag_and_cache_control_give_304(client):
    r = client.get("/v1/demand", params={"scenario": "low"})
    tag = r.headers["etag"]
    assert "max-age" in r.headers["cache-control"]
    assert r.headers["x-assumptions-version"] in tag
    again = client.get("/v1/demand", params={"scenario": "low"}, headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    other = client.get("/v1/demand", params={"scenario": "high"})
    assert other.headers["etag"] != tag


def test_large_bodies_are_gzipped(live_client):
    client = live_client
    r = client.get("/v1/demand", headers={"Accept-Encoding": "gzip"})
    assert r.headers.get("content-encoding") == "gzip"
    raw = client.build_request("GET", "/v1/demand", headers={"Accept-Encoding": "gzip"})
    resp = client.send(raw, stream=True)
    body = b"".join(resp.iter_raw())
    assert json.loads(gzip.decompress(body))["records"]


def test_computed_bodies_are_gzipped_as_they_are_sent(live_client):
    """A what-if is compressed on the way out (GZIP_LEVEL, fast) and unpacks to the same answer as a plain one."""
    body = {"scenario": "base", "overrides": {"ev.motor_kg.BEV": 1.8}, "start": 2030, "end": 2032, "quantiles": True}
    request = live_client.build_request("POST", "/v1/forecast", json=body, headers={"Accept-Encoding": "gzip"})
    packed = live_client.send(request, stream=True)
    assert packed.status_code == 200 and packed.headers.get("content-encoding") == "gzip"
    unpacked = json.loads(gzip.decompress(b"".join(packed.iter_raw())))
    plain = live_client.post("/v1/forecast", json=body, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert unpacked == plain.json() and unpacked["demand"][0]["p5"] is not None


@pytest.mark.parametrize(
    "path, parameter",
    [
        ("/v1/demand?scenario=nope", "scenario"),
        ("/v1/demand?start=1900", "start"),
        ("/v1/demand?start=2040&end=2030", "start"),
        ("/v1/demand?element=Fe", "element"),
        ("/v1/demand?segment=toys", "segment"),
        ("/v1/demand?start=abc", "start"),
        ("/v1/gap?region=mars", "region"),
        ("/v1/gap?stage=smelting", "stage"),
        ("/v1/supply?weighting=hopeful", "weighting"),
        ("/v1/supply?chain=moon", "chain"),
        ("/v1/gap?chain=moon", "chain"),
        ("/v1/supply/projects?stage=smelting", "stage"),
        ("/v1/supply/projects?status=dreaming", "status"),
        ("/v1/supply/projects?financing=hope", "financing"),
        ("/v1/balance?material=gold", "material"),
        ("/v1/balance?scenario=nope", "scenario"),
        ("/v1/drivers?driver=horses", "driver"),
        ("/v1/drivers?scenario=nope", "scenario"),
    ],
)
def test_bad_parameters_get_422_naming_the_parameter(client, path, parameter):
    r = client.get(path)
    assert r.status_code == 422
    body = r.json()
    assert body["details"][0]["parameter"] == parameter
    assert r.headers["x-assumptions-version"]


def test_unknown_scenario_lists_the_allowed_values(client):
    allowed = client.get("/v1/demand?scenario=nope").json()["details"][0]["allowed"]
    assert {"base", "high", "low", "thrifting", "rare_earth_free"} <= set(allowed)


def test_what_if_forecast_changes_demand_and_supply(client):
    base = client.post("/v1/forecast", json={"scenario": "base", "start": 2035, "end": 2035}).json()
    heavy = client.post(
        "/v1/forecast",
        json={
            "scenario": "base",
            "start": 2035,
            "end": 2035,
            "overrides": {"ev.motor_kg.BEV": 1.2},
            "extra_projects": [
                {
                    "id": "big_plant",
                    "stage": "magnet",
                    "unit": "t_NdFeB_magnet",
                    "capacity": 20000,
                    "first_year": 2030,
                    "status": "operating",
                }
            ],
        },
    ).json()

    def pick(resp, **kw):
        return next(x for x in resp["demand" if "segment" in kw else "gap"] if all(x[k] == v for k, v in kw.items()))

    ev = {"segment": "ev_bev", "material": "NdFeB", "unit": "t_magnet"}
    # the calibrated base sits at the top of the range (2.0 kg): a lighter motor lowers demand
    assert pick(heavy, **ev)["value"] < 0.9 * pick(base, **ev)["value"]
    mag = {"stage": "magnet", "region": "ex_china", "material": "NdFeB", "chain": "outside_china"}
    assert pick(heavy, **mag)["supply_nameplate_t"] == pytest.approx(pick(base, **mag)["supply_nameplate_t"] + 20000)
    assert heavy["assumptions_version"] == base["assumptions_version"]


@pytest.mark.parametrize(
    "body, parameter",
    [
        ({"overrides": {"ev.motor_kg.BEV": 9.0}}, "overrides.ev.motor_kg.BEV"),
        ({"overrides": {"no.such.parameter": 1.0}}, "overrides.no.such.parameter"),
        ({"scenario": "nope"}, "scenario"),
        ({"start": 1990}, "start"),
        (
            {"extra_projects": [{"id": "x", "stage": "magnet", "unit": "t_gold", "capacity": 1, "first_year": 2030}]},
            "extra_projects.0.unit",
        ),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_bad_what_if_requests_get_422(client, body, parameter):
    r = client.post("/v1/forecast", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["details"][0]["parameter"] == parameter


def test_request_body_is_bounded(client):
    huge = {"overrides": {f"p{i}": 1.0 for i in range(20000)}}
    r = client.post("/v1/forecast", json=huge)
    assert r.status_code == 413
    assert r.json()["details"][0]["parameter"] == "body"


def test_malformed_json_is_a_client_error(client):
    r = client.post("/v1/forecast", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422


def test_request_id_is_echoed(client):
    r = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"


def test_metrics_expose_requests_version_and_refresh(client):
    client.get("/v1/calibration")
    text = client.get("/metrics").text
    assert 'magnet_forecast_http_requests_total{method="GET",route="/v1/calibration",status="200"}' in text
    assert "magnet_forecast_http_request_duration_seconds_bucket" in text
    assert "magnet_forecast_assumptions_version_info{version=" in text
    assert "magnet_forecast_last_refresh_timestamp_seconds" in text


def test_openapi_docs_and_examples(client):
    spec = client.get("/openapi.json").json()
    assert "/v1/forecast" in spec["paths"]
    assert "/v1/demand" in spec["paths"]
    assert "examples" in json.dumps(spec["components"]["schemas"]["ForecastRequest"])
    assert client.get("/docs").status_code == 200


def test_plotly_is_served_locally(client):
    page = client.get("/").text
    assert 'src="/static/plotly.min.js"' in page
    assert "cdn" not in page.lower()
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200
    assert len(js.content) > 1_000_000


def test_demand_quantiles_give_ordered_bands_and_a_total(client):
    recs = client.get(
        "/v1/demand",
        params={
            "segment": "total",
            "element": "NdFeB",
            "unit": "t_magnet",
            "quantiles": "true",
            "start": 2030,
            "end": 2040,
        },
    ).json()["records"]
    assert len(recs) == 11
    for r in recs:
        assert r["p5"] <= r["p10"] <= r["p50"] <= r["p90"] <= r["p95"]
    plain = client.get("/v1/demand", params={"segment": "total"})
    assert plain.status_code == 422  # 'total' exists only with quantiles


def test_backtest_reports_skill_for_every_series(client):
    body = client.get("/v1/backtest").json()
    assert "inverse" in body["rule"]
    recs = body["records"]
    series = {r["series"] for r in recs}
    assert {
        "ev_car_sales.World.total",
        "wind_installations.World.total",
        "unit_sales.World.industrial_robots",
    } <= series
    ens = [r for r in recs if r["series"] == "ev_car_sales.World.total" and r["model"] == "ensemble"]
    assert [r["horizon"] for r in ens] == [1, 2, 3, 4, 5]
    assert all(r["interval_stretch_80"] >= 1 and r["interval_stretch_95"] >= 1 for r in ens)
    one = client.get("/v1/backtest", params={"series": "ev_car_sales.World.total", "model": "arima"}).json()
    assert {r["model"] for r in one["records"]} == {"arima"}
    assert all(r["interval_stretch_95"] is None for r in one["records"])
    assert client.get("/v1/backtest", params={"model": "astrology"}).status_code == 422


def test_drivers_give_history_projection_and_ordered_bands(client):
    body = client.get("/v1/drivers", params={"scenario": "iea_steps"}).json()
    recs = pd.DataFrame(body["records"])
    assert body["scenario"] == "iea_steps"
    assert set(recs["scenario"]) == {"iea_steps"}
    assert {"ev_car_sales.BEV", "ev_commercial_sales.truck", "wind_installs.offshore"} <= set(recs["driver"])
    hist = recs[recs["kind"] == "history"]
    assert (hist["p5"] == hist["value"]).all()
    assert (hist["p95"] == hist["value"]).all()
    proj = recs[recs["kind"] == "projection"]
    assert (proj["p5"] <= proj["p50"]).all()
    assert (proj["p50"] <= proj["p95"]).all()
    ev2030 = recs[(recs["year"] == 2030) & recs["driver"].str.startswith("ev_car_sales.")]["value"].sum()
    assert ev2030 == pytest.approx(40_700_000)  # the IEA STEPS path the scenario follows
    one = client.get("/v1/drivers", params={"driver": "wind_installs.onshore", "start": 2020, "end": 2024})
    assert {r["year"] for r in one.json()["records"]} == set(range(2020, 2025))
    csv = client.get("/v1/drivers", params={"format": "csv", "driver": "ev_commercial_sales.bus"})
    table = pd.read_csv(io.StringIO(csv.text))
    assert set(table["driver"]) == {"ev_commercial_sales.bus"}


def test_gap_by_chain_china_free_never_covers_more(client):
    recs = client.get("/v1/gap", params={"stage": "chain", "region": "ex_china", "element": "NdFeB"}).json()["records"]
    by = {(r["year"], r["chain"]): r for r in recs}
    years = {y for y, _ in by}
    assert years
    assert all((y, "china_free") in by and (y, "outside_china") in by for y in years)
    for y in years:
        assert by[(y, "china_free")]["supply_risked_t"] <= by[(y, "outside_china")]["supply_risked_t"] + 1e-6
        assert by[(y, "china_free")]["binding_stage"] in {"mine", "separation", "metal", "alloy", "magnet"}
    one = client.get("/v1/gap", params={"chain": "china_free", "stage": "chain"}).json()["records"]
    assert one
    assert {r["chain"] for r in one} == {"china_free"}


def test_projects_filter_by_company_country_stage_and_status(client):
    every = client.get("/v1/supply/projects").json()["records"]
    assert len(every) >= 90
    realloys = client.get("/v1/supply/projects", params={"company": "realloys"}).json()["records"]
    assert realloys
    assert all("realloys" in r["company"].lower() for r in realloys)
    src = client.get("/v1/supply/projects", params={"company": "Saskatchewan", "stage": "metal"}).json()["records"]
    assert {r["id"] for r in src} == {"src_saskatoon_metal", "src_saskatoon_metal_expansion"}
    assert all(r["financing"] == "offtake_signed" and r["status_source"].startswith("http") for r in src)
    us_operating = client.get("/v1/supply/projects", params={"country": "usa", "status": "operating"}).json()["records"]
    assert us_operating
    assert all(r["country"] == "USA" and r["status"] == "operating" for r in us_operating)
    loi = client.get("/v1/supply/projects", params={"financing": "letter_of_interest"}).json()["records"]
    assert "arr_halleck_creek" in {r["id"] for r in loi}
    csv_text = client.get("/v1/supply/projects", params={"company": "Ramaco", "format": "csv"}).text
    assert "ramaco_brook" in csv_text


def test_balance_closes_and_filters_by_material(client):
    recs = client.get("/v1/balance", params={"material": "NdPr", "start": 2024, "end": 2030}).json()["records"]
    assert [r["year"] for r in recs] == list(range(2024, 2031))
    for r in recs:
        assert r["china_t"] + r["rest_of_world_t"] + r["recycled_t"] == pytest.approx(r["supply_t"])
        assert r["supply_t"] + r["deficit_t"] == pytest.approx(r["demand_t"])
    assert {r["material"] for r in client.get("/v1/balance").json()["records"]} == {"NdFeB", "NdPr", "Dy", "Tb"}


def test_scenarios_table_has_2030_and_2040_totals_and_uncalibrated_beside_base(client):
    sc = {s["name"]: s for s in client.get("/v1/scenarios").json()["scenarios"]}
    assert {"base", "uncalibrated", "robotics_boom", "export_controls"} <= set(sc)
    applied = client.get("/v1/calibration").json()["uplift_applied"]
    assert sc["uncalibrated"]["calibrated"] is False
    assert sc["base"]["calibrated"] is applied
    for s in sc.values():
        assert [t["year"] for t in s["totals"]] == [2030, 2040]
        assert all(t["ndfeb_t"] > 0 for t in s["totals"])
    base40, unc40 = sc["base"]["totals"][1]["ndfeb_t"], sc["uncalibrated"]["totals"][1]["ndfeb_t"]
    assert (base40 != unc40) is applied


def test_sensitivity_route_and_its_errors(client):
    r = client.get("/v1/sensitivity", params={"year": 2030, "output": "NdPr"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["central"] > 0
    assert body["parameters"]
    swing = [abs(p["output_high"] - p["output_low"]) for p in body["parameters"]]
    assert swing == sorted(swing, reverse=True)
    bad = client.get("/v1/sensitivity", params={"year": 2031})
    assert bad.status_code == 422
    assert bad.json()["details"][0]["parameter"] == "year"
    assert client.get("/v1/sensitivity", params={"output": "Nd"}).status_code == 422


def test_what_if_forecast_returns_bands_when_asked(client):
    body = {"scenario": "base", "start": 2030, "end": 2031, "quantiles": True}
    r = client.post("/v1/forecast", json=body)
    assert r.status_code == 200, r.text
    rows = [d for d in r.json()["demand"] if d["material"] == "NdFeB" and d["segment"] == "ev_bev"]
    assert rows
    assert all(d["p5"] <= d["p50"] <= d["p95"] for d in rows)
