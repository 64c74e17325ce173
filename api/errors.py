"""Client errors as JSON bodies that name the parameter and what was expected."""

from __future__ import annotations

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
    ):
        self.status = status
        self.detail = ErrorDetail(parameter=parameter, message=message, allowed=allowed, input=value)
        super().__init__(message)


def _body(status: int, error: str, details: list[ErrorDetail]) -> JSONResponse:
    return JSONResponse(ErrorBody(status=status, error=error, details=details).model_dump(), status_code=status)


async def api_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return _body(exc.status, exc.detail.message, [exc.detail])


async def validation_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = []
    for e in exc.errors():
        loc = [str(x) for x in e.get("loc", ()) if x not in ("query", "body", "path")]
        got = e.get("input")
        details.append(
            ErrorDetail(
                parameter=".".join(loc) or None,
                message=str(e.get("msg", "invalid")),
                input=got if isinstance(got, str | int | float | bool | type(None)) else None,
            )
        )
    return _body(422, "invalid request", details)


async def http_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return _body(exc.status_code, str(exc.detail), [ErrorDetail(message=str(exc.detail))])
