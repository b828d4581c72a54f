"""Errors the catalog raises. Each ``str()`` is one line without passwords, tokens or SQL parameters."""

from __future__ import annotations

from core.errors import RewindError


class CatalogError(RewindError):
    """The catalog database cannot be used, or a call contradicts what it already holds."""


class NotFound(CatalogError):
    """No snapshot (or tenant) matches the reference given."""


class Ambiguous(CatalogError):
    """A snapshot id prefix matches more than one snapshot; ``candidates`` lists some of them."""

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


class SchemaTooNew(CatalogError):
    """The database was migrated by a newer Rewind than this one."""
