"""Routes of the analyst's workbench: what-if inputs, scenarios side by side, the Excel workbook."""

from __future__ import annotations

import threading
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from api.errors import APIError
from api.render import etag, to_csv_bytes, to_json_bytes
from api.routes import (
    COMPUTED,
    CSV_RESPONSE,
    ERRORS,
    FormatQ,
    _bundle,
    _choose,
    _json,
    _served,
    _state,
    _wants_csv,
    _years,
    what_if_parameters,
    with_bands,
)
from api.schemas import CompareRequest, CompareResponse, WhatIfInputsResponse
from api.state import Rendered
from api.whatif import describe_inputs
from api.workbook import XLSX_MEDIA_TYPE, workbook_bytes, workbook_filename
from forecast.bundle import gap_table
from forecast.calibration import band_parameters
from forecast.compare import compare_table, gap_compare_table
from forecast.model import demand_for_params
from forecast.montecarlo import QUANTILE_COLUMNS
from forecast.scenarios import resolve_parameters

WHAT_IF_LABEL = "what-if"
_WORKBOOK_LOCK = threading.Lock()
workbench = APIRouter(prefix="/v1", responses=ERRORS)


@workbench.get("/what-if/inputs", response_model=WhatIfInputsResponse, tags=["forecast"])
def what_if_inputs(
    request: Request,
    scenario: Annotated[str, Query(description="Scenario whose values the inputs start from.")] = "base",
) -> JSONResponse:
    """The what-if panel's inputs: the parameters that move demand most, with value, range, unit and source."""
    b = _bundle(request)
    _choose("scenario", scenario, b.scenarios)
    params = resolve_parameters(b.assumptions, scenario, b.calibration.calibrated)
    sensitivity = getattr(b, "sensitivity", None)
    inputs = describe_inputs(b.assumptions, params, sensitivity, scenario)
    ranked = any(i["swing_t"] is not None for i in inputs)
    how = "2040 NdFeB swing over each range (sensitivity table)" if ranked else "fixed order (no sensitivity table)"
    return _json(b, {"scenario": scenario, "ranked_by": how, "inputs": inputs})


def _what_if_demand(
    request: Request, scenario: str, overrides: dict, years: np.ndarray, bands: bool, basis: str
) -> pd.DataFrame:
    """A what-if's demand labelled 'what-if', with Monte Carlo bands on one basis when asked."""
    b = _bundle(request)
    params = what_if_parameters(request, scenario, overrides)
    dem = demand_for_params(b.assumptions, params, years).assign(scenario=WHAT_IF_LABEL)
    if not bands:
        return dem
    drawn = band_parameters(b.assumptions, b.calibration, scenario, overrides, params)
    return with_bands(b.assumptions, drawn, WHAT_IF_LABEL, dem, basis, request.app.state.settings.what_if_paths)


@workbench.post(
    "/compare",
    response_model=CompareResponse,
    responses={200: {"content": CSV_RESPONSE}, **COMPUTED},
    tags=["forecast"],
)
def compare(request: Request, body: CompareRequest, format: FormatQ = None) -> Response:
    """Scenarios side by side: totals, segments or elements [t/yr] on one basis and unit, with bands where they exist.

    A what-if (a scenario plus overrides, checked as in POST /v1/forecast) appears as the scenario 'what-if'.
    """
    b = _bundle(request)
    for name in body.scenarios:
        _choose("scenario", name, b.scenarios)
    if body.measure == "gap" and body.by != "total":
        raise APIError(422, "the gap is compared as totals per chain", parameter="by", allowed=["total"], value=body.by)
    s, e = _years(b, body.start, body.end)
    years = np.arange(s, e + 1)
    names = list(body.scenarios) + ([WHAT_IF_LABEL] if body.what_if is not None else [])
    if body.measure == "gap":
        table = _gap_comparison(request, body, s, e, years)
    else:
        table = _demand_comparison(request, body, s, e, years)
    if _wants_csv(request, format):
        return Response(to_csv_bytes(table, b.version), media_type="text/csv; charset=utf-8")
    extra = {"measure": body.measure, "by": body.by, "basis": body.basis, "unit": body.unit, "scenarios": names}
    return Response(to_json_bytes(b.version, table, **extra), media_type="application/json")


def _in_order(d: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    order = {name: i for i, name in enumerate(scenarios)}
    return d.iloc[np.argsort(d["scenario"].map(order).to_numpy(), kind="stable")]


def _demand_comparison(request: Request, body: CompareRequest, s: int, e: int, years: np.ndarray) -> pd.DataFrame:
    d = _served(request).demand_q
    stored = _in_order(d[d["scenario"].isin(body.scenarios) & (d["year"] >= s) & (d["year"] <= e)], body.scenarios)
    if not body.quantiles:
        stored = stored.drop(columns=[c for c in QUANTILE_COLUMNS if c in stored.columns])
    parts = [stored]
    if body.what_if is not None:
        run = body.what_if
        parts.append(_what_if_demand(request, run.scenario, run.overrides, years, body.quantiles, body.basis))
    return compare_table(pd.concat(parts, ignore_index=True), body.by, body.basis, body.unit)


def _gap_comparison(request: Request, body: CompareRequest, s: int, e: int, years: np.ndarray) -> pd.DataFrame:
    b = _bundle(request)
    g = b.gap
    parts = [_in_order(g[g["scenario"].isin(body.scenarios) & (g["year"] >= s) & (g["year"] <= e)], body.scenarios)]
    if body.what_if is not None:
        params = what_if_parameters(request, body.what_if.scenario, body.what_if.overrides)
        wg = gap_table(b.assumptions, params, WHAT_IF_LABEL, years, quantiles=False)
        parts.append(wg)
    return gap_compare_table(pd.concat(parts, ignore_index=True))


@workbench.get(
    "/export.xlsx",
    responses={200: {"content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}},
    tags=["forecast"],
)
def export_xlsx(request: Request) -> Response:
    """The whole version as one Excel workbook: a sheet per table, the sources, the version and scenarios."""
    state = _state(request)
    served = _served(request)
    b = served.bundle
    key = (b.version, "export.xlsx", "", False)
    with _WORKBOOK_LOCK:  # built once per version: concurrent first requests wait for the one build
        hit = state.cache.get(key)
        if hit is None:
            hit = Rendered(workbook_bytes(b, served.backtest), XLSX_MEDIA_TYPE, etag(b.version, "export.xlsx"))
            state.cache.put(key, hit)
    headers = {
        "ETag": hit.etag,
        "Cache-Control": f"public, max-age={request.app.state.settings.cache_max_age_s}",
        "Content-Disposition": f'attachment; filename="{workbook_filename(b)}"',
    }
    if request.headers.get("if-none-match") == hit.etag:
        return Response(status_code=304, headers=headers)
    return Response(hit.body, media_type=hit.media_type, headers=headers)
