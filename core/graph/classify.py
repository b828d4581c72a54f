"""Turn a failed Graph response into the matching GraphError."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.graph.errors import (
    AuthenticationFailed,
    BadRequest,
    DeltaTokenExpired,
    ErrorKind,
    GraphError,
    NotFound,
    PermissionDenied,
    Throttled,
    one_line,
)
from core.graph.permissions import required_permission

# Error codes Graph uses when a delta/sync token can no longer be resumed.
_EXPIRED_SYNC_CODES = {"syncstatenotfound", "syncstateinvalid", "resyncrequired", "invaliddeltatoken"}

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def error_details(body: Any) -> tuple[str | None, str | None, str | None]:
    """(code, message, request id) from a Graph error body; all None when the body has another shape."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None, None, None
    code = error.get("code")
    message = error.get("message")
    inner = error.get("innerError") or error.get("innererror") or {}
    request_id = inner.get("request-id") if isinstance(inner, Mapping) else None
    return (
        str(code) if code is not None else None,
        str(message) if message is not None else None,
        str(request_id) if request_id is not None else None,
    )


def is_delta_expired(status: int, code: str | None) -> bool:
    return status == 410 or (code is not None and code.lower() in _EXPIRED_SYNC_CODES)


def classify_response(
    method: str, path: str, status: int, body: Any, headers: Mapping[str, str], *, attempts: int = 1
) -> GraphError:
    """Build the error for a final (non-retried) failure of ``method path`` (path relative to the version)."""
    code, message, body_request_id = error_details(body)
    request_id = headers.get("request-id") or body_request_id
    what = f"{method.upper()} /{path.lstrip('/')}"
    detail = f"{status} {code}" if code else str(status)
    if message:
        detail = f"{detail}: {one_line(message, 120)}"
    fields: dict[str, Any] = {"status": status, "code": code, "request_id": request_id}

    if is_delta_expired(status, code):
        return DeltaTokenExpired(
            f"{what}: the delta token has expired ({detail})",
            hint="restart this collection with a full sync (drop the saved delta link)",
            **fields,
        )
    if status == 401:
        return AuthenticationFailed(
            f"{what}: Graph rejected the access token ({detail})",
            hint="check that REWIND_CLOUD (or REWIND_GRAPH_URL) matches the cloud of REWIND_TENANT_ID",
            **fields,
        )
    if status == 403:
        permission = required_permission(method, path)
        hint = (
            f"grant the application permission {permission} and admin-consent it"
            if permission
            else "grant the application the permission this operation needs and admin-consent it"
        )
        return PermissionDenied(f"{what} was denied ({detail})", hint=hint, **fields)
    if status == 404:
        return NotFound(f"{what}: not found ({detail})", hint="the object may have been deleted", **fields)
    if status == 400:
        return BadRequest(
            f"{what}: Graph refused the request ({detail})",
            hint="fix what Graph's message names; if it is Rewind's own request, report it as a bug",
            **fields,
        )
    if status == 429:
        return Throttled(
            f"{what}: still throttled after {attempts} attempts ({detail})",
            hint="lower the concurrency or resource_units_per_10s, or run outside business hours",
            **fields,
        )
    if status in RETRYABLE_STATUSES:
        return GraphError(
            f"{what}: Graph kept failing after {attempts} attempts ({detail})",
            hint="Graph is having trouble; try again later",
            kind=ErrorKind.RETRYABLE,
            **fields,
        )
    return GraphError(f"{what}: unexpected response ({detail})", hint="this is a bug in Rewind", **fields)
