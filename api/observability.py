"""Request ids, structured JSON logs (exceptions kept, credentials redacted) and Prometheus metrics."""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.store.sources import redact

REQUEST_ID_HEADER = "x-request-id"
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, message and any structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[0] is not None:
            data["exc_type"] = record.exc_info[0].__name__
            data["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(data, default=str))


def configure_logging(level: str) -> logging.Logger:
    logger = logging.getLogger("magnet_forecast")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    return logger


class Metrics:
    """Prometheus metrics on the app's own registry (several apps can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "magnet_forecast_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "magnet_forecast_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.version = Gauge(
            "magnet_forecast_assumptions_version_info",
            "Active assumptions version",
            ["version"],
            registry=self.registry,
        )
        self.last_refresh = Gauge(
            "magnet_forecast_last_refresh_timestamp_seconds",
            "Unix time the active assumptions version was loaded",
            registry=self.registry,
        )

    def set_version(self, version: str, loaded_at: float) -> None:
        self.version.clear()
        self.version.labels(version=version).set(1)
        self.last_refresh.set(loaded_at)


class RequestContextMiddleware:
    """Adds a request id, times the request, logs one JSON line and updates the metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics, logger: logging.Logger, version: Callable[[], str | None]):
        self.app, self.metrics, self.logger, self.version = app, metrics, logger, version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")[:64]
        request_id = given if given and given.replace("-", "").isalnum() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                extra = [(REQUEST_ID_HEADER.encode(), request_id.encode())]
                v = self.version()
                if v:
                    extra.append((b"x-assumptions-version", v.encode()))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            route_name = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], route_name, str(status_holder["status"])).inc()
            self.metrics.latency.labels(scope["method"], route_name).observe(elapsed)
            self.logger.info(
                "request",
                extra={
                    "fields": {
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status_holder["status"],
                        "duration_ms": round(elapsed * 1e3, 2),
                    }
                },
            )
