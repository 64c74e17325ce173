"""Admin API: refresh, versions, diffs and rollback, behind a bearer token (disabled without one)."""

from __future__ import annotations

import hmac
import math
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from api.errors import APIError, ErrorBody
from api.limits import client_of

bearer = HTTPBearer(auto_error=False)


def require_admin(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    """The configured bearer token; a client with too many recent failures is refused (429) until they age out."""
    token = request.app.state.settings.admin_token
    if not token:
        raise APIError(403, "admin API disabled: set ADMIN_TOKEN to enable it")
    throttle, client = request.app.state.admin_throttle, client_of(request.scope)
    wait = throttle.blocked_for(client)
    if wait > 0:
        raise APIError(
            429,
            f"too many failed admin attempts; retry in {math.ceil(wait)} s",
            parameter="Authorization",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    if creds is None:
        throttle.failed(client)
        raise APIError(401, "missing bearer token", parameter="Authorization")
    if not hmac.compare_digest(creds.credentials.encode(), token.encode()):
        throttle.failed(client)
        request.app.state.logger.warning("failed admin attempt", extra={"fields": {"client": client}})
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
    pinned: bool


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
    429: {"model": ErrorBody, "description": "Too many failed attempts from this client; see Retry-After."},
    503: {"model": ErrorBody, "description": "The database cannot be reached, or the service is stopping."},
}
admin = APIRouter(
    prefix="/v1/assumptions", tags=["admin"], dependencies=[Depends(require_admin)], responses=ADMIN_ERRORS
)


def _version(request: Request) -> str:
    b = request.app.state.forecast.bundle
    return b.version if b else ""


@admin.post("/refresh", response_model=RefreshResponse)
def refresh(request: Request, body: RefreshRequest | None = None) -> JSONResponse:
    """Run a refresh now (synchronously); the new version is served when it is activated.

    ``source`` must be the configured source, the bundled assumptions, or start with one of
    REFRESH_ALLOWED_SOURCES. A refresh that brings content already stored while a rollback's pin
    holds answers ``pinned`` and changes nothing.
    """
    service = request.app.state.service
    source = (body.source if body else None) or service.refresh_source
    if not source_allowed(source, service):
        raise APIError(
            422,
            "source not allowed: expected the configured source or one under REFRESH_ALLOWED_SOURCES",
            parameter="source",
        )
    result = service.refresh(source)
    status = {
        "activated": 200,
        "unchanged": 200,
        "pinned": 200,
        "rejected": 422,
        "failed": 422,
        "locked": 409,
        "cancelled": 503,
    }[result.status]
    return JSONResponse({"assumptions_version": _version(request), **result.to_dict()}, status_code=status)


def _url_under(url: str, prefix: str) -> bool:
    """Same scheme and host (with port and credentials as written), and a path under the prefix's path."""
    u, p = urlsplit(url), urlsplit(prefix)
    base = p.path if p.path.endswith("/") else p.path + "/"
    return (u.scheme, u.netloc) == (p.scheme, p.netloc) and (u.path == p.path or u.path.startswith(base))


def source_allowed(source: str, service) -> bool:
    """The configured source, the bundled assumptions, or under one of REFRESH_ALLOWED_SOURCES."""
    if source in (service.refresh_source, str(service.settings.assumptions_dir)):
        return True
    allowed = service.settings.refresh_allowed_sources
    if source.startswith(("http://", "https://")):
        return any(_url_under(source, p) for p in allowed if p.startswith(("http://", "https://")))
    try:
        target = Path(source).resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    for prefix in allowed:
        if prefix.startswith(("http://", "https://")):
            continue
        root = Path(prefix).resolve()
        if target == root or root in target.parents:
            return True
    return False


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
    """Roll back (or forward) to a stored version and pin it; this replica switches at once, others on their
    next poll. The pin holds through restarts and refreshes that bring content already stored; a refresh
    with new content, or DELETE /v1/assumptions/pin, ends it."""
    from api.store.locks import LockBusy
    from api.store.repository import UnknownVersion

    service = request.app.state.service
    try:
        info = service.store.activate(version_id, service.settings.refresh_lease_s)
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


class PinResponse(BaseModel):
    assumptions_version: str
    active: str | None
    pinned: bool


@admin.delete("/pin", response_model=PinResponse)
def unpin(request: Request) -> JSONResponse:
    """End a rollback's pin: the next refresh may activate any valid content again."""
    info = request.app.state.service.store.unpin()
    return JSONResponse(
        {"assumptions_version": _version(request), "active": info.short_id if info else None, "pinned": False}
    )
