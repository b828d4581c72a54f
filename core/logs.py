"""Structured logging: readable on a terminal, JSON lines otherwise, with secrets scrubbed on the way out."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(
    r"(secret|password|passphrase|token|authorization|assertion|private_key|key_pem)", re.I
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9\-_.~+/=]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")


def scrub(value: Any) -> Any:
    """Remove bearer tokens and JWTs from strings (values of secret-named keys are dropped by the caller)."""
    if isinstance(value, str):
        return _JWT.sub("[redacted-jwt]", _BEARER.sub(r"\1[redacted]", value))
    return value


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key != "event" and _SECRET_KEYS.search(key):
            event[key] = "[redacted]"
        else:
            event[key] = scrub(event[key])
    return event


def configure_logging(level: str = "WARNING", *, json: bool | None = None) -> None:
    """Configure structlog once per process; ``json`` defaults to "stderr is not a terminal"."""
    as_json = (not sys.stderr.isatty()) if json is None else json
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
