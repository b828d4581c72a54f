"""Errors restore reports to people: each ``str()`` is one line that names the fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from core.errors import RewindError


class RestoreError(RewindError):
    """Base of restore's errors."""


class SelectorError(RestoreError):
    """The selection names no object, or cannot be read (the message then ends with the usage line)."""


class AmbiguousSelector(SelectorError):
    """Several objects answer to the name; ``candidates`` lists them as "type id name"."""

    def __init__(self, message: str, candidates: Sequence[str]) -> None:
        super().__init__(message)
        self.candidates = list(candidates)


class NotInSnapshot(SelectorError):
    """The object is known to the catalog but the chosen snapshot does not hold it."""


class PlanDrifted(RestoreError):
    """The live tenant changed since the plan was made; ``keys`` are the drifted "type/id"."""

    def __init__(self, message: str, keys: Sequence[str]) -> None:
        super().__init__(message)
        self.keys = list(keys)


RefusalReason = Literal[
    "self_approval",
    "not_approver",
    "not_requester",
    "expired",
    "drifted",
    "not_pending",
    "already_decided",
    "overlap",
    "not_approved",
]


class ApprovalRefused(RestoreError):
    """A decision or a run the rules do not allow; ``reason`` is machine-readable, the message one line."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason: RefusalReason = reason


class RequestNotFound(RestoreError):
    """No request, or more than one, matches the id or prefix given."""
