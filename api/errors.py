"""Client errors as JSON bodies that name the parameter and what was expected."""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException


class ErrorDetail(BaseModel):
    parameter: str | None = None
    message: str
    allowed: list[Any] | None = None
    input: Any | None = None


class ErrorBody(BaseModel):
    status: int
    error: str
    details: list[ErrorDetail]


class APIError(Exception):
    """A client error with the parameter at fault and its allowed values."""

    def __init__(
        self,
        status: int,
        message: str,
        parameter: str | None = None,
        allowed: list[Any] | None = None,
        value: Any | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.status = status
        self.detail = ErrorDetail(parameter=parameter, message=message, allowed=allowed, input=value)
        self.headers = headers
        super().__init__(message)


DATABASE_RETRY_AFTER_S = 5


def _body(status: int, error: str, details: list[ErrorDetail], headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(status=status, error=error, details=details).model_dump()
    return JSONResponse(body, status_code=status, headers=headers)


async def api_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return _body(exc.status, exc.detail.message, [exc.detail], exc.headers)


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """The database is unreachable (or failed): 503 with the reason's kind; details go to the log only."""
    request.app.state.logger.error(
        "database error", exc_info=exc, extra={"fields": {"path": request.url.path, "error": type(exc).__name__}}
    )
    message = f"the assumptions store cannot be reached ({type(exc).__name__}); try again shortly"
    return _body(
        503, "database unavailable", [ErrorDetail(message=message)], {"Retry-After": str(DATABASE_RETRY_AFTER_S)}
    )


async def validation_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details: list[ErrorDetail] = []
    for e in exc.errors():
        loc = [str(x) for x in e.get("loc", ()) if x not in ("query", "body", "path") and not _union_tag(x)]
        got = e.get("input")
        if isinstance(got, float) and not math.isfinite(got):
            got = str(got)  # NaN and Infinity named, as JSON cannot carry them
        detail = ErrorDetail(
            parameter=".".join(loc) or None,
            message=str(e.get("msg", "invalid")),
            input=got if isinstance(got, str | int | float | bool | type(None)) else None,
        )
        if detail not in details:
            details.append(detail)
    return _body(422, "invalid request", details)


def _union_tag(loc: object) -> bool:
    """pydantic names the member of a union it tried ('float', 'dict[int,float]'): not a field name."""
    return isinstance(loc, str) and (loc in ("float", "int", "str", "bool") or "[" in loc)


async def http_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return _body(exc.status_code, str(exc.detail), [ErrorDetail(message=str(exc.detail))])
