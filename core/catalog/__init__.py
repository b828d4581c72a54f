"""The SQL catalog: per-tenant snapshots, object-version intervals and delta tokens; a rebuildable cache."""

from core.catalog.catalog import Catalog
from core.catalog.errors import Ambiguous, CatalogError, NotFound, SchemaTooNew
from core.catalog.models import (
    ObjectRef,
    ObjectVersion,
    ObjectVersionRow,
    SnapshotRow,
    TenantRow,
    named_exactly,
)

__all__ = [
    "Ambiguous",
    "Catalog",
    "CatalogError",
    "NotFound",
    "ObjectRef",
    "ObjectVersion",
    "ObjectVersionRow",
    "SchemaTooNew",
    "SnapshotRow",
    "TenantRow",
    "named_exactly",
]
