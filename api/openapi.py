"""OpenAPI schema with the allowed values of the loaded forecast (scenarios, segments, years)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from forecast.bundle import ForecastBundle
from forecast.gap import GAP_MATERIALS, GAP_REGIONS, GAP_STAGES
from forecast.schemas import ELEMENTS, FINANCING, REGIONS, STAGES, STATUSES
from forecast.supply import CHAINS, WEIGHTINGS


def _allowed(path: str, name: str, b: ForecastBundle, report: pd.DataFrame | None) -> list[Any] | None:
    if path.endswith("/backtest") and report is not None:
        return {"series": sorted(report["series"].unique()), "model": sorted(report["model"].unique())}.get(name)
    segments = list(b.assumptions.structure.segments)
    drivers = sorted(b.drivers["driver"].unique()) if b.drivers is not None else None
    return {
        "driver": drivers,
        "scenario": b.scenarios,
        "segment": [*segments, "total"],
        "region": list(REGIONS) if path.endswith("/demand") else list(GAP_REGIONS),
        "weighting": list(WEIGHTINGS),
        "stage": list(GAP_STAGES) if path.endswith("/gap") else list(STAGES),
        "element": ["NdFeB", *ELEMENTS] if path.endswith("/demand") else list(GAP_MATERIALS),
        "material": list(GAP_MATERIALS),
        "chain": list(CHAINS),
        "status": list(STATUSES),
        "financing": list(FINANCING),
    }.get(name)


def custom_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with enums and year bounds taken from the active forecast."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    served = app.state.forecast.served
    if served is not None:
        b = served.bundle
        h = b.assumptions.model.horizon
        for path, ops in schema.get("paths", {}).items():
            for op in ops.values():
                for p in op.get("parameters", []):
                    target = p.get("schema", {})
                    variants = target.get("anyOf", [target])
                    string_schema = next((v for v in variants if v.get("type") == "string"), None)
                    allowed = _allowed(path, p["name"], b, served.backtest)
                    if allowed is not None and string_schema is not None:
                        string_schema["enum"] = allowed
                    if p["name"] in ("start", "end"):
                        for v in variants:
                            if v.get("type") == "integer":
                                v.update(minimum=h.first_year, maximum=h.last_year)
    app.openapi_schema = schema
    return schema
