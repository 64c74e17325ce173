"""Thin HTTP routes: validate parameters, pick rows from the in-memory forecast, render."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from api.errors import APIError, ErrorBody
from api.render import etag, to_csv_bytes, to_json_bytes
from api.schemas import (
    AssumptionsResponse,
    BacktestResponse,
    BalanceResponse,
    CalibrationResponse,
    DemandResponse,
    DriversResponse,
    ForecastRequest,
    ForecastResponse,
    GapResponse,
    HealthResponse,
    HindcastResponse,
    ProjectsResponse,
    ReadyResponse,
    ScenariosResponse,
    SensitivityResponse,
    SupplyResponse,
)
from api.state import ForecastState, Rendered, Served
from forecast.balance import BALANCE_MATERIALS
from forecast.bundle import ForecastBundle, gap_table, scenario_table
from forecast.calibration import band_parameters
from forecast.composition import OXIDE_BASIS
from forecast.gap import GAP_MATERIALS, GAP_REGIONS, GAP_STAGES
from forecast.model import demand_for_params, horizon_years
from forecast.montecarlo import quantile_table
from forecast.regions import regional_demand_for_params
from forecast.scenarios import apply_overrides, resolve_parameters
from forecast.schemas import (
    ELEMENTS,
    FINANCING,
    REGIONS,
    STAGES,
    STATUSES,
    TREO_UNITS,
    Assumptions,
    Parameter,
    SupplyProject,
)
from forecast.sensitivity import OUTPUTS
from forecast.supply import CHAINS, WEIGHTINGS

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEMAND_MATERIALS: tuple[str, ...] = ("NdFeB", *ELEMENTS)
ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "A parameter is invalid; the body names it and the allowed values."},
    503: {"model": ErrorBody, "description": "No forecast is loaded yet."},
}
CSV_RESPONSE = {"text/csv": {"schema": {"type": "string"}}}

FormatQ = Annotated[
    Literal["json", "csv"] | None, Query(description="json (default) or csv; or send Accept: text/csv.")
]
StartQ = Annotated[int | None, Query(description="First year (default: horizon start).", examples=[2024])]
EndQ = Annotated[int | None, Query(description="Last year (default: 2050).", examples=[2040])]


def _state(request: Request) -> ForecastState:
    return request.app.state.forecast


def _served(request: Request) -> Served:
    served = _state(request).served
    if served is None:
        raise APIError(503, "no forecast loaded yet")
    return served


def _bundle(request: Request) -> ForecastBundle:
    b = _state(request).bundle
    if b is None:
        raise APIError(503, "no forecast loaded yet")
    return b


def _choose(name: str, value: str | None, allowed: list[str] | tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise APIError(422, f"unknown {name} {value!r}", parameter=name, allowed=list(allowed), value=value)


def _years(b: ForecastBundle, start: int | None, end: int | None) -> tuple[int, int]:
    h = b.assumptions.model.horizon
    s, e = start if start is not None else h.first_year, end if end is not None else h.last_year
    for name, y in (("start", s), ("end", e)):
        if not h.first_year <= y <= h.last_year:
            raise APIError(
                422,
                f"{name} {y} is outside the horizon {h.first_year}-{h.last_year}",
                parameter=name,
                allowed=[h.first_year, h.last_year],
                value=y,
            )
    if s > e:
        raise APIError(422, f"start {s} is after end {e}", parameter="start", allowed=[h.first_year, e], value=s)
    return s, e


def _wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "")


def _serve(
    request: Request, route: str, key: dict[str, Any], csv: bool, build: Callable[[], tuple[pd.DataFrame, dict]]
) -> Response:
    """Cached, ETag'd JSON or CSV of a table; the table is only built on a cache miss."""
    state = _state(request)
    b = _bundle(request)
    norm = json.dumps(key, sort_keys=True, default=str)
    cache_key = (b.version, route, norm, csv)
    hit = state.cache.get(cache_key)
    if hit is None:
        df, extra = build()
        body = to_csv_bytes(df, b.version) if csv else to_json_bytes(b.version, df, **extra)
        hit = Rendered.make(
            body,
            "text/csv; charset=utf-8" if csv else "application/json",
            etag(b.version, route, norm, str(csv)),
            request.app.state.settings.gzip_min_bytes,
        )
        state.cache.put(cache_key, hit)
    headers = {
        "ETag": hit.etag,
        "Cache-Control": f"public, max-age={request.app.state.settings.cache_max_age_s}",
        "Vary": "Accept, Accept-Encoding",
    }
    if request.headers.get("if-none-match") == hit.etag:
        return Response(status_code=304, headers=headers)
    if hit.gzipped is not None and "gzip" in request.headers.get("accept-encoding", "").lower():
        # compressed once when cached; the gzip middleware passes an encoded body through untouched
        return Response(hit.gzipped, media_type=hit.media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(hit.body, media_type=hit.media_type, headers=headers)


def _json(b: ForecastBundle, payload: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse({"assumptions_version": b.version, **payload}, status_code=status)


def _json_with_tables(b: ForecastBundle, payload: dict[str, Any], tables: dict[str, pd.DataFrame]) -> Response:
    """As :func:`_json`, with tables appended as arrays of records written once by pandas (NaN as null),
    not parsed back into Python objects and written again."""
    head = json.dumps({"assumptions_version": b.version, **payload})[:-1]
    parts = [head, *(f", {json.dumps(name)}: {df.to_json(orient='records')}" for name, df in tables.items()), "}"]
    return Response("".join(parts), media_type="application/json")


router = APIRouter()
v1 = APIRouter(prefix="/v1", responses=ERRORS)


# /health and /ready are coroutines: they run on the event loop, never queued behind the worker threads
# that computations and table renders use, and they never touch the database.
@router.get("/health", response_model=HealthResponse, tags=["operations"])
async def health(request: Request) -> dict[str, Any]:
    """The process is alive."""
    b = _state(request).bundle
    return {"status": "ok", "assumptions_version": b.version if b else None}


@router.get("/ready", response_model=ReadyResponse, responses={503: {"model": ReadyResponse}}, tags=["operations"])
async def ready(request: Request) -> JSONResponse:
    """A forecast is loaded and being served; otherwise 503 and why (starting, database unreachable, ...).

    ``database`` is the last contact with the store: a replica keeps serving the version in memory while
    the database is down (and says so here), so that an outage of the store is not an outage of the API.
    """
    st = _state(request)
    service = request.app.state.service
    body = {
        "ready": st.ready,
        "assumptions_version": st.bundle.version if st.bundle else "",
        "loaded_at": st.loaded_at,
        "reason": None if st.ready else (service.problem or "starting"),
        "database": service.database_error or "ok",
    }
    return JSONResponse(body, status_code=200 if st.ready else 503)


@v1.get("/scenarios", response_model=ScenariosResponse, tags=["forecast"])
def scenarios(request: Request) -> JSONResponse:
    """Scenarios, the parameter overrides that define them, and their 2030 and 2040 totals (the scenarios table)."""
    b = _bundle(request)
    table = scenario_table(b)
    out = []
    for name in b.scenarios:
        sc = b.assumptions.scenarios[name]
        ov = {k: ({str(y): x for y, x in v.items()} if isinstance(v, dict) else v) for k, v in sc.overrides.items()}
        rows = table[table["scenario"] == name].drop(columns="scenario").replace({np.nan: None})
        out.append(
            {
                "name": name,
                "description": sc.description,
                "source": sc.source,
                "note": sc.note,
                "calibrated": sc.calibrated and b.calibration.uplift_applied,
                "overrides": ov,
                "totals": rows.to_dict(orient="records"),
            }
        )
    return _json(b, {"scenarios": out})


@v1.get("/demand", response_model=DemandResponse, responses={200: {"content": CSV_RESPONSE}}, tags=["forecast"])
def demand(
    request: Request,
    scenario: Annotated[str, Query(description="Scenario name (GET /v1/scenarios).", examples=["base"])] = "base",
    start: StartQ = None,
    end: EndQ = None,
    segment: Annotated[str | None, Query(description="One segment, e.g. ev_bev.", examples=["ev_bev"])] = None,
    element: Annotated[str | None, Query(description="NdFeB, Nd, Pr, Dy or Tb.", examples=["Dy"])] = None,
    unit: Annotated[
        Literal["t_magnet", "t_metal", "t_oxide", "t_oxide_gross"] | None,
        Query(description="t_magnet, t_metal (element in magnets), t_oxide (net of recycled swarf) or t_oxide_gross."),
    ] = None,
    basis: Annotated[
        Literal["finished", "blank", "alloy"],
        Query(description="Magnet tonnage basis; oxide rows are the same on every basis and always included."),
    ] = "finished",
    quantiles: Annotated[
        bool, Query(description="Add Monte Carlo p5, p10, p50, p90, p95 (and a 'total' segment).")
    ] = False,
    by: Annotated[
        Literal["segment", "region"],
        Query(description="region: one row per segment and region (where products are sold or installed)."),
    ] = "segment",
    region: Annotated[
        str | None, Query(description="With by=region: one region (china, europe, united_states, rest_of_world).")
    ] = None,
    format: FormatQ = None,
) -> Response:
    """World NdFeB demand by segment (or by segment and region), and Nd, Pr, Dy, Tb in magnets and as oxide
    [t/yr], on a declared basis."""
    b = _bundle(request)
    _choose("scenario", scenario, b.scenarios)
    segments = list(b.assumptions.structure.segments)
    _choose("segment", segment, [*segments, "total"] if quantiles else segments)
    _choose("element", element, DEMAND_MATERIALS)
    _choose("region", region, REGIONS)
    if by == "region" and quantiles:
        raise APIError(422, "quantiles are world totals; use by=segment", parameter="quantiles", value=True)
    if region is not None and by != "region":
        raise APIError(422, "region needs by=region", parameter="region", value=region)
    s, e = _years(b, start, end)

    def build() -> tuple[pd.DataFrame, dict]:
        d = _served(request).demand_q if quantiles else b.demand
        m = (d["scenario"] == scenario) & (d["year"] >= s) & (d["year"] <= e) & d["basis"].isin([basis, OXIDE_BASIS])
        if segment:
            m &= d["segment"] == segment
        if element:
            m &= d["material"] == element
        if unit:
            m &= d["unit"] == unit
        if by == "region":
            params = resolve_parameters(b.assumptions, scenario, b.calibration.calibrated)
            r = regional_demand_for_params(b.assumptions, params, d[m], horizon_years(b.assumptions, s, e))
            return (r[r["region"] == region] if region else r), {"scenario": scenario}
        return d[m], {"scenario": scenario}

    key = {
        "scenario": scenario,
        "s": s,
        "e": e,
        "segment": segment,
        "element": element,
        "unit": unit,
        "basis": basis,
        "q": quantiles,
        "by": by,
        "region": region,
    }
    return _serve(request, "demand", key, _wants_csv(request, format), build)


@v1.get("/drivers", response_model=DriversResponse, responses={200: {"content": CSV_RESPONSE}}, tags=["forecast"])
def drivers(
    request: Request,
    scenario: Annotated[str, Query(description="Scenario name (GET /v1/scenarios).", examples=["base"])] = "base",
    start: StartQ = None,
    end: EndQ = None,
    driver: Annotated[
        str | None, Query(description="One driver, e.g. ev_car_sales.BEV.", examples=["ev_car_sales.BEV"])
    ] = None,
    format: FormatQ = None,
) -> Response:
    """Electric car, bus/truck/van sales and wind installations behind the demand: history, projection, P5-P95."""
    b = _bundle(request)
    drivers = b.drivers
    if drivers is None:
        raise APIError(503, "no driver table in this version")
    _choose("scenario", scenario, b.scenarios)
    _choose("driver", driver, sorted(drivers["driver"].unique()))
    s, e = _years(b, start, end)

    def build() -> tuple[pd.DataFrame, dict]:
        d = drivers
        m = (d["scenario"] == scenario) & (d["year"] >= s) & (d["year"] <= e)
        if driver:
            m &= d["driver"] == driver
        return d[m], {"scenario": scenario}

    key = {"scenario": scenario, "s": s, "e": e, "driver": driver}
    return _serve(request, "drivers", key, _wants_csv(request, format), build)


@v1.get("/supply", response_model=SupplyResponse, responses={200: {"content": CSV_RESPONSE}}, tags=["supply"])
def supply(
    request: Request,
    stage: Annotated[str | None, Query(description="mine, separation, metal, alloy, magnet or recycling.")] = None,
    weighting: Annotated[
        str | None, Query(description="nameplate, or risked (expected output).", examples=["risked"])
    ] = None,
    element: Annotated[str | None, Query(description="NdFeB (equivalent), NdPr, Dy or Tb.")] = None,
    chain: Annotated[str | None, Query(description="outside_china or china_free.", examples=["china_free"])] = None,
    start: StartQ = None,
    end: EndQ = None,
    format: FormatQ = None,
) -> Response:
    """Supply outside China by chain and stage [t/yr]: nameplate, and risked expected output with P10-P90."""
    b = _bundle(request)
    _choose("stage", stage, STAGES)
    _choose("weighting", weighting, WEIGHTINGS)
    _choose("element", element, GAP_MATERIALS)
    _choose("chain", chain, CHAINS)
    s, e = _years(b, start, end)

    def build() -> tuple[pd.DataFrame, dict]:
        d = b.supply
        m = (d["year"] >= s) & (d["year"] <= e)
        for col, v in (("stage", stage), ("weighting", weighting), ("material", element), ("chain", chain)):
            if v:
                m &= d[col] == v
        return d[m], {}

    key = {"stage": stage, "w": weighting, "el": element, "chain": chain, "s": s, "e": e}
    return _serve(request, "supply", key, _wants_csv(request, format), build)


@v1.get("/gap", response_model=GapResponse, responses={200: {"content": CSV_RESPONSE}}, tags=["supply"])
def gap(
    request: Request,
    scenario: Annotated[str, Query(description="Scenario name.", examples=["base"])] = "base",
    stage: Annotated[str | None, Query(description="A chain stage, recycling, or chain.", examples=["magnet"])] = None,
    region: Annotated[str | None, Query(description="world or ex_china.", examples=["ex_china"])] = None,
    element: Annotated[str | None, Query(description="NdFeB, NdPr, Dy or Tb.")] = None,
    chain: Annotated[str | None, Query(description="outside_china or china_free.", examples=["china_free"])] = None,
    start: StartQ = None,
    end: EndQ = None,
    format: FormatQ = None,
) -> Response:
    """Demand against supply outside China: gap, coverage and the binding stage of each chain."""
    b = _bundle(request)
    _choose("scenario", scenario, b.scenarios)
    _choose("stage", stage, GAP_STAGES)
    _choose("region", region, GAP_REGIONS)
    _choose("element", element, GAP_MATERIALS)
    _choose("chain", chain, CHAINS)
    s, e = _years(b, start, end)

    def build() -> tuple[pd.DataFrame, dict]:
        d = b.gap
        m = (d["scenario"] == scenario) & (d["year"] >= s) & (d["year"] <= e)
        for col, v in (("stage", stage), ("region", region), ("material", element), ("chain", chain)):
            if v:
                m &= d[col] == v
        return d[m], {"scenario": scenario}

    key = {"scenario": scenario, "stage": stage, "region": region, "el": element, "chain": chain, "s": s, "e": e}
    return _serve(request, "gap", key, _wants_csv(request, format), build)


@v1.get(
    "/supply/projects", response_model=ProjectsResponse, responses={200: {"content": CSV_RESPONSE}}, tags=["supply"]
)
def supply_projects(
    request: Request,
    company: Annotated[
        str | None, Query(description="Part of the company name (any case).", examples=["REalloys"])
    ] = None,
    country: Annotated[str | None, Query(description="Part of the country name (any case).", examples=["USA"])] = None,
    stage: Annotated[str | None, Query(description="mine, separation, metal, alloy, magnet or recycling.")] = None,
    status: Annotated[
        str | None, Query(description="operating, construction, financed, feasibility, announced, suspended.")
    ] = None,
    financing: Annotated[
        str | None, Query(description="none, letter_of_interest, conditional_commitment, offtake_signed, fid.")
    ] = None,
    format: FormatQ = None,
) -> Response:
    """The pipeline: every project with status, financing stage, feed origin, ownership, sources and latest output."""
    b = _bundle(request)
    if b.projects is None:
        raise APIError(503, "no project table in this version")
    _choose("stage", stage, STAGES)
    _choose("status", status, STATUSES)
    _choose("financing", financing, FINANCING)
    for name, v in (("company", company), ("country", country)):
        if v is not None and not 1 <= len(v) <= 100:
            raise APIError(422, f"{name} must be 1 to 100 characters", parameter=name, value=v)

    projects = b.projects
    if projects is None:
        raise APIError(503, "no project table in this version")

    def build() -> tuple[pd.DataFrame, dict]:
        d = projects
        m = pd.Series(True, index=d.index)
        for col, v in (("company", company), ("country", country)):
            if v:
                m &= d[col].str.contains(v, case=False, regex=False)
        for col, v in (("stage", stage), ("status", status), ("financing", financing)):
            if v:
                m &= d[col] == v
        return d[m], {}

    key = {"company": company, "country": country, "stage": stage, "status": status, "financing": financing}
    return _serve(request, "supply_projects", key, _wants_csv(request, format), build)


@v1.get("/balance", response_model=BalanceResponse, responses={200: {"content": CSV_RESPONSE}}, tags=["supply"])
def balance(
    request: Request,
    scenario: Annotated[str, Query(description="Scenario name.", examples=["base"])] = "base",
    material: Annotated[str | None, Query(description="NdFeB, NdPr, Dy or Tb.", examples=["NdPr"])] = None,
    start: StartQ = None,
    end: EndQ = None,
    format: FormatQ = None,
) -> Response:
    """World balance: China's supply, the rest of the world's, recycling and world demand; supply + deficit = demand."""
    b = _bundle(request)
    table = b.balance
    if table is None:
        raise APIError(503, "no balance in this version")
    _choose("scenario", scenario, b.scenarios)
    _choose("material", material, BALANCE_MATERIALS)
    s, e = _years(b, start, end)

    def build() -> tuple[pd.DataFrame, dict]:
        d = table
        m = (d["scenario"] == scenario) & (d["year"] >= s) & (d["year"] <= e)
        if material:
            m &= d["material"] == material
        return d[m], {"scenario": scenario}

    key = {"scenario": scenario, "material": material, "s": s, "e": e}
    return _serve(request, "balance", key, _wants_csv(request, format), build)


BACKTEST_RULE = (
    "Rolling origin, horizons 1-5; per series the best three models by MAE relative to naive drift (pooled over "
    "horizons) are weighted by inverse score; the ensemble row is scored with those in-sample weights. The "
    "ensemble's intervals are widened by split conformal prediction on the log scale (interval_stretch_80/95, "
    "never below 1); its coverage uses only errors observable at each origin."
)


@v1.get("/backtest", response_model=BacktestResponse, responses={200: {"content": CSV_RESPONSE}}, tags=["forecast"])
def backtest(
    request: Request,
    series: Annotated[str | None, Query(description="One driver series, e.g. ev_car_sales.World.total.")] = None,
    model: Annotated[
        str | None, Query(description="naive_drift, logistic, ets_damped, arima, prophet, ensemble.")
    ] = None,
    format: FormatQ = None,
) -> Response:
    """Skill of every driver model: MAPE, MASE against naive drift, 80/95% interval coverage, ensemble weights."""
    report = _served(request).backtest
    if report is None:
        raise APIError(503, "no driver fits in this version")
    _choose("series", series, sorted(report["series"].unique()))
    _choose("model", model, sorted(report["model"].unique()))

    def build() -> tuple[pd.DataFrame, dict]:
        r = report
        if series:
            r = r[r["series"] == series]
        if model:
            r = r[r["model"] == model]
        return r, {"rule": BACKTEST_RULE}

    return _serve(request, "backtest", {"series": series, "model": model}, _wants_csv(request, format), build)


@v1.get("/hindcast", response_model=HindcastResponse, tags=["forecast"])
def hindcast(request: Request) -> JSONResponse:
    """The model's own world totals against published NdFeB production, year by year, with the MAPE."""
    b = _bundle(request)
    return _json(b, b.hindcast.to_dict())


@v1.get("/calibration", response_model=CalibrationResponse, tags=["forecast"])
def calibration(request: Request) -> JSONResponse:
    """How the base scenario is tied to the DOE 2023 projection (demand fourfold by 2040)."""
    b = _bundle(request)
    return _json(b, b.calibration.to_dict())


@v1.get("/sensitivity", response_model=SensitivityResponse, tags=["forecast"])
def sensitivity(
    request: Request,
    scenario: Annotated[str, Query(description="Scenario (computed once per version for base).")] = "base",
    year: Annotated[int, Query(description="Year of the output (2030 or 2040).", examples=[2040])] = 2040,
    output: Annotated[str, Query(description="total (NdFeB, finished), NdPr, Dy or Tb (primary oxide).")] = "total",
) -> JSONResponse:
    """What drives demand: one-at-a-time sweep over each input's range and Sobol S1/ST, largest swing first."""
    b = _bundle(request)
    table = b.sensitivity
    if table is None or table.empty:
        raise APIError(503, "no sensitivity table in this version")
    _choose("scenario", scenario, sorted(table["scenario"].unique()))
    _choose("output", output, list(OUTPUTS))
    years = sorted(int(y) for y in table["year"].unique())
    if year not in years:
        raise APIError(422, f"unknown year {year}", parameter="year", allowed=years, value=year)
    t = table[(table["scenario"] == scenario) & (table["year"] == year) & (table["output"] == output)]
    materials, unit = OUTPUTS[output]
    d = b.demand[(b.demand["scenario"] == scenario) & (b.demand["year"] == year) & b.demand["material"].isin(materials)]
    d = d[(d["unit"] == unit) & d["basis"].isin(["finished", OXIDE_BASIS])]
    rows = t.drop(columns=["scenario", "year", "output"]).to_dict(orient="records")
    payload = {
        "scenario": scenario,
        "year": year,
        "output": output,
        "unit": unit,
        "central": float(d["value"].sum()),
        "parameters": rows,
    }
    return _json(b, payload)


@v1.get("/assumptions", response_model=AssumptionsResponse, tags=["assumptions"])
def assumptions(request: Request) -> JSONResponse:
    """Every parameter with unit, range and source, and every source."""
    b = _bundle(request)
    a = b.assumptions
    params = [
        {
            "name": n,
            "value": p.value,
            "trajectory": {str(y): v for y, v in p.trajectory.items()} if p.trajectory else None,
            "unit": p.unit,
            "low": p.low,
            "high": p.high,
            "source": p.source,
            "note": p.note,
        }
        for n, p in sorted(a.parameters.items())
    ]
    sources = [{"id": k, **s.model_dump()} for k, s in sorted(a.sources.items())]
    return _json(b, {"parameters": params, "sources": sources, "projects": len(a.projects)})


def _what_if_projects(b: ForecastBundle, req: ForecastRequest) -> list[SupplyProject]:
    known = {p.id for p in b.assumptions.projects}
    out = []
    for i, p in enumerate(req.extra_projects):
        if p.id in known or sum(q.id == p.id for q in req.extra_projects) > 1:
            raise APIError(422, f"duplicate project id {p.id!r}", parameter=f"extra_projects.{i}.id", value=p.id)
        try:
            fields = p.model_dump()
            if fields["unit"] in TREO_UNITS and fields["ndpr_share_of_treo"] is None:
                fields["ndpr_share_of_treo"] = b.assumptions.parameters["supply.ndpr_share_of_treo.default"].value
            out.append(
                SupplyProject.model_validate(
                    {
                        **fields,
                        "source_title": "what-if request",
                        "source_publisher": "request",
                        "source_url": "https://localhost/what-if",
                    }
                )
            )
        except ValidationError as err:
            first = err.errors()[0]
            raise APIError(422, str(first["msg"]), parameter=f"extra_projects.{i}.unit", value=p.unit) from None
    return out


def what_if_parameters(
    request: Request, scenario: str, overrides: dict[str, float | dict[int, float]]
) -> dict[str, Parameter]:
    """A scenario's parameters with what-if overrides, each checked (422 naming the override at fault)."""
    b = _bundle(request)
    settings = request.app.state.settings
    _choose("scenario", scenario, b.scenarios)
    if len(overrides) > settings.max_overrides:
        raise APIError(422, f"at most {settings.max_overrides} overrides", parameter="overrides")
    params = resolve_parameters(b.assumptions, scenario, b.calibration.calibrated)
    for name, new in overrides.items():
        if name not in params:
            raise APIError(
                422,
                f"unknown parameter {name!r}",
                parameter=f"overrides.{name}",
                allowed=sorted(params)[:200],
                value=None,
            )
        if isinstance(new, dict) and not all(1950 <= y <= 2100 for y in new):
            raise APIError(422, "trajectory years must be within 1950-2100", parameter=f"overrides.{name}")
        try:
            params = apply_overrides(params, {name: new})
        except ValidationError as err:
            p = params[name]
            raise APIError(
                422,
                err.errors()[0]["msg"],
                parameter=f"overrides.{name}",
                allowed=[p.low, p.high],
                value=new if not isinstance(new, dict) else None,
            ) from None
    return params


COMPUTED: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "The body is larger than MAX_BODY_BYTES."},
    429: {"model": ErrorBody, "description": "This client's rate of computations is used up; see Retry-After."},
    503: {"model": ErrorBody, "description": "No forecast loaded yet, or every computation slot is busy."},
}


@v1.post("/forecast", response_model=ForecastResponse, responses=COMPUTED, tags=["forecast"])
def forecast(request: Request, body: ForecastRequest) -> Response:
    """Recompute demand and gap for a scenario with what-if overrides (bounded; computed on request).

    With ``quantiles`` the demand rows of ``basis`` carry Monte Carlo p5 .. p95 (``WHAT_IF_PATHS`` paths,
    from the calibration base year on) and a ``total`` segment.
    """
    b = _bundle(request)
    settings = request.app.state.settings
    params = what_if_parameters(request, body.scenario, body.overrides)
    if len(body.extra_projects) > settings.max_extra_projects:
        raise APIError(422, f"at most {settings.max_extra_projects} extra projects", parameter="extra_projects")
    s, e = _years(b, body.start, body.end)
    a = b.assumptions
    extra = _what_if_projects(b, body)
    a2 = a.model_copy(update={"projects": [*a.projects, *extra]}) if extra else a
    years = np.arange(s, e + 1)
    dem = demand_for_params(a2, params, years)
    dem.insert(1, "scenario", body.scenario)
    if body.quantiles:
        drawn = band_parameters(a, b.calibration, body.scenario, body.overrides, params)
        dem = with_bands(a2, drawn, body.scenario, dem, body.basis, settings.what_if_paths)
    gp = gap_table(a2, params, body.scenario, years, quantiles=False)
    overrides = {
        k: ({str(y): x for y, x in v.items()} if isinstance(v, dict) else v) for k, v in body.overrides.items()
    }
    return _json_with_tables(b, {"scenario": body.scenario, "overrides": overrides}, {"demand": dem, "gap": gp})


def with_bands(
    a: Assumptions, params: dict[str, Parameter], scenario: str, demand: pd.DataFrame, basis: str, n_paths: int
) -> pd.DataFrame:
    """Demand rows of one magnet basis (and oxide) plus a 'total' segment, with Monte Carlo quantiles
    from the calibration base year on (NaN before it, as in the stored bands)."""
    dem = demand[demand["basis"].isin([basis, OXIDE_BASIS])]
    keys = ["year", "scenario", "material", "basis", "unit"]
    total = dem.groupby(keys, as_index=False)["value"].sum().assign(segment="total")
    dem = pd.concat([dem, total[dem.columns]], ignore_index=True)
    years = np.unique(dem["year"].to_numpy())
    future = years[years >= a.model.calibration.base_year]
    if len(future) == 0:
        return dem
    q = quantile_table(a, params, scenario, future, n_paths, basis=basis)
    return dem.merge(q, on=["year", "scenario", "segment", "material", "basis", "unit"], how="left")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard() -> HTMLResponse:
    return HTMLResponse((STATIC_DIR / "dashboard.html").read_text())


@router.get("/static/dashboard.js", include_in_schema=False)
def dashboard_js() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "dashboard.js", media_type="text/javascript", headers={"Cache-Control": "public, max-age=300"}
    )


@router.get("/static/plotly.min.js", include_in_schema=False)
def plotly_js() -> FileResponse:
    """plotly.js served by the app (a copy next to it, else the plotly package's): no CDN."""
    path = STATIC_DIR / "plotly.min.js"
    if not path.is_file():
        import plotly

        path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})
