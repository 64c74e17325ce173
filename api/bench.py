"""Benchmark-only route (enabled with BENCH_ROUTES=1): a bare payload of the same size as GET /v1/demand."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.render import to_json_bytes

bench_router = APIRouter(include_in_schema=False)


@bench_router.get("/bench/bare")
def bare(request: Request) -> Response:
    """Returns precomputed bytes with no filtering, caching or ETag logic: the floor a route can reach."""
    state = request.app.state
    body = getattr(state, "bench_body", None)
    if body is None:
        b = state.forecast.bundle
        d = b.demand
        body = to_json_bytes(b.version, d[d["scenario"] == "base"], scenario="base")
        state.bench_body = body
    return Response(body, media_type="application/json")
