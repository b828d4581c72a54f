"""Classified errors: the only exceptions that leave ``core.graph``.

Every ``str()`` is one line saying what went wrong and how to fix it. Messages are built from status codes,
error codes and hosts, never from tokens, secrets or tracebacks.
"""

from __future__ import annotations

from enum import StrEnum

_MAX_DETAIL = 160


class ErrorKind(StrEnum):
    RETRYABLE = "retryable"  # worth trying again later
    PERMANENT = "permanent"  # the request itself is wrong for this tenant
    AUTH = "auth"  # credentials or tenant configuration


def one_line(text: str, limit: int = _MAX_DETAIL) -> str:
    """Collapse whitespace and cut server-supplied text to a short single line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


class GraphError(Exception):
    default_kind = ErrorKind.PERMANENT

    def __init__(
        self,
        problem: str,
        *,
        hint: str | None = None,
        kind: ErrorKind | None = None,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.problem = one_line(problem, limit=400)
        self.hint = one_line(hint, limit=200) if hint else None
        self.kind = kind or self.default_kind
        self.status = status
        self.code = code
        self.request_id = request_id
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.problem}: {self.hint}" if self.hint else self.problem

    def __reduce__(self) -> tuple[object, ...]:
        # Keeps the keyword-only fields when the error crosses a process boundary.
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[GraphError], state: dict[str, object]) -> GraphError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, str(err))
    return err


class AuthenticationFailed(GraphError):
    default_kind = ErrorKind.AUTH


class PermissionDenied(GraphError):
    pass


class NotFound(GraphError):
    pass


class BadRequest(GraphError):
    pass


class DeltaTokenExpired(GraphError):
    """The delta link is no longer valid: the caller must restart with a full sync."""


class GraphUnreachable(GraphError):
    default_kind = ErrorKind.RETRYABLE


class UntrustedCertificate(GraphError):
    pass


class Throttled(GraphError):
    default_kind = ErrorKind.RETRYABLE
