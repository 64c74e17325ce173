"""Admin API: refresh, versions, diffs and rollback, behind a bearer token (disabled without one)."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from api.errors import APIError, ErrorBody

bearer = HTTPBearer(auto_error=False)


def require_admin(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    token = request.app.state.settings.admin_token
    if not token:
        raise APIError(403, "admin API disabled: set ADMIN_TOKEN to enable it")
    if creds is None:
        raise APIError(401, "missing bearer token", parameter="Authorization")
    if not hmac.compare_digest(creds.credentials.encode(), token.encode()):
        raise APIError(403, "invalid bearer token", parameter="Authorization")


class RefreshRequest(BaseModel):
    source: str | None = Field(default=None, description="Directory or manifest URL; default: the configured source.")


class VersionOut(BaseModel):
    id: str
    hash: str
    status: str
    created_at: str
    origin: str
    previous: str | None


class VersionsResponse(BaseModel):
    assumptions_version: str
    versions: list[VersionOut]
    runs: list[dict[str, Any]]


class RefreshResponse(BaseModel):
    assumptions_version: str
    status: str
    version: str | None
    reasons: list[str]
    warnings: list[str]
    run_id: int | None


class DiffResponse(BaseModel):
    assumptions_version: str
    id: str
    previous: str | None
    changes: list[dict[str, Any]]
    validation_report: dict[str, Any]


ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No bearer token."},
    403: {"model": ErrorBody, "description": "Wrong token, or the admin API is disabled."},
    404: {"model": ErrorBody, "description": "Unknown version."},
    409: {"model": ErrorBody, "description": "Another refresh is running."},
    422: {"model": ErrorBody, "description": "Rejected assumptions or bad request."},
}
admin = APIRouter(
    prefix="/v1/assumptions", tags=["admin"], dependencies=[Depends(require_admin)], responses=ADMIN_ERRORS
)


def _version(request: Request) -> str:
    b = request.app.state.forecast.bundle
    return b.version if b else ""


@admin.post("/refresh", response_model=RefreshResponse)
def refresh(request: Request, body: RefreshRequest | None = None) -> JSONResponse:
    """Run a refresh now (synchronously); the new version is served when it is activated."""
    service = request.app.state.service
    result = service.refresh((body.source if body else None) or service.refresh_source)
    status = {"activated": 200, "unchanged": 200, "rejected": 422, "failed": 422, "locked": 409}[result.status]
    return JSONResponse({"assumptions_version": _version(request), **result.to_dict()}, status_code=status)


@admin.get("/versions", response_model=VersionsResponse)
def versions(request: Request) -> JSONResponse:
    """Stored versions, newest first, and the latest refresh runs with their reasons."""
    store = request.app.state.service.store
    return JSONResponse(
        {
            "assumptions_version": _version(request),
            "versions": [v.to_dict() for v in store.versions()],
            "runs": store.runs(),
        }
    )


@admin.get("/versions/{version_id}/diff", response_model=DiffResponse)
def diff(request: Request, version_id: str) -> JSONResponse:
    """What changed in a version against the one before it, with old and new values and sources."""
    from api.store.repository import UnknownVersion

    try:
        d = request.app.state.service.store.diff(version_id)
    except UnknownVersion:
        raise APIError(404, f"unknown version {version_id!r}", parameter="version_id", value=version_id) from None
    return JSONResponse({"assumptions_version": _version(request), **d})


@admin.post("/versions/{version_id}/activate", response_model=RefreshResponse)
def activate(request: Request, version_id: str) -> JSONResponse:
    """Roll back (or forward) to a stored version; this replica switches at once, others on their next poll."""
    from api.store.locks import LockBusy
    from api.store.repository import UnknownVersion

    service = request.app.state.service
    try:
        info = service.store.activate(version_id)
    except UnknownVersion:
        raise APIError(404, f"unknown version {version_id!r}", parameter="version_id", value=version_id) from None
    except ValueError as exc:
        raise APIError(422, str(exc), parameter="version_id", value=version_id) from None
    except LockBusy:
        raise APIError(409, "a refresh is running; try again when it has finished") from None
    service.sync()
    return JSONResponse(
        {
            "assumptions_version": _version(request),
            "status": "activated",
            "version": info.short_id,
            "reasons": [],
            "warnings": [],
            "run_id": None,
        }
    )
