"""FastAPI application: ``uvicorn api.main:app``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

import forecast
from api.admin import admin
from api.allocator import retain_freed_memory
from api.errors import APIError, api_error_handler, database_error_handler, http_error_handler, validation_error_handler
from api.limits import BodyLimitMiddleware, ComputeLimitMiddleware, FailureThrottle
from api.observability import Metrics, RequestContextMiddleware, configure_logging
from api.openapi import custom_openapi
from api.routes import router, v1
from api.service import ForecastService
from api.settings import Settings, get_settings
from api.state import ForecastState
from api.workbench import workbench


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; start-up serves the stored active version (or makes the first one) in the background."""
    settings = settings or get_settings()
    retain_freed_memory()  # Monte Carlo bands reuse freed arrays instead of page-faulting new ones
    logger = configure_logging(settings.log_level)
    metrics = Metrics()
    state = ForecastState(settings.response_cache_entries, settings.response_cache_bytes)

    def on_activate(bundle) -> None:
        app.openapi_schema = None  # enums follow the active version
        metrics.set_version(bundle.version, state.loaded_at or 0.0)

    service = ForecastService(settings, state, logger, on_activate)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()  # returns at once: /health answers while the store is reached and a version loaded
        yield
        await anyio.to_thread.run_sync(service.stop)  # bounded: SHUTDOWN_REFRESH_WAIT_S

    app = FastAPI(
        title="magnet-forecast",
        version=forecast.__version__,
        description=(
            "World NdFeB permanent-magnet demand (and Nd, Pr, Dy, Tb) to 2050, bottom-up and calibrated to the "
            "DOE 2023 Critical Materials Assessment, against the planned non-Chinese supply chain."
        ),
        lifespan=lifespan,
    )
    app.openapi = lambda: custom_openapi(app)  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.forecast = state
    app.state.metrics = metrics
    app.state.logger = logger
    app.state.service = service
    app.state.admin_throttle = FailureThrottle(
        settings.admin_max_failures, settings.admin_failure_window_s, settings.rate_limit_clients
    )

    app.add_exception_handler(APIError, api_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(SQLAlchemyError, database_error_handler)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - last resort
        logger.exception("unhandled error", extra={"fields": {"path": request.url.path}})
        return JSONResponse({"status": 500, "error": "internal error", "details": []}, status_code=500)

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
    app.include_router(v1)
    app.include_router(workbench)
    app.include_router(admin)
    if settings.bench_routes:
        from api.bench import bench_router

        app.include_router(bench_router)

    app.add_middleware(GZipMiddleware, minimum_size=settings.gzip_min_bytes, compresslevel=settings.gzip_level)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ComputeLimitMiddleware, settings=settings)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        logger=logger,
        version=lambda: state.bundle.version if state.bundle else None,
    )
    return app


app = create_app()
