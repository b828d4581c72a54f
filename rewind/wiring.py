"""The composition root: the one place that turns settings into stores, repositories, catalogs and clients."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.catalog import Catalog
from core.connection import graph_config, restore_graph_config
from core.errors import ConfigurationError
from core.graph import GraphClient, GraphConfig
from core.repository import Passphrase, RawKey, Repository, RepositoryKey
from core.restore.identity import is_object_id
from core.restore.planner import PlanOptions
from core.restore.service import ApprovalPolicy, RestoreService
from core.settings import RewindSettings
from core.store import Retention, open_store


@dataclass
class TenantContext:
    tenant_id: str
    repository: Repository
    catalog: Catalog


def repository_key(settings: RewindSettings) -> RepositoryKey | None:
    if settings.repository_key and settings.repository_passphrase:
        raise ConfigurationError(
            "both REWIND_REPOSITORY_KEY and REWIND_REPOSITORY_PASSPHRASE are set: keep only one"
        )
    if settings.repository_passphrase:
        return Passphrase(settings.repository_passphrase.get_secret_value())
    if settings.repository_key:
        try:
            raw = base64.b64decode(settings.repository_key.get_secret_value(), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ConfigurationError(
                "REWIND_REPOSITORY_KEY must be 32 random bytes in base64 (e.g. `openssl rand -base64 32`)"
            )
        return RawKey(raw)
    return None


def retention(settings: RewindSettings) -> Retention | None:
    if settings.s3_lock_mode == "none":
        return None
    return Retention(mode=settings.s3_lock_mode, days=settings.s3_lock_days)


def open_repository(settings: RewindSettings, tenant_id: str, *, create: bool) -> Repository:
    """Each tenant has its own repository under the store URL, so keys and retention never mix."""
    lock = retention(settings)
    store = open_store(
        f"{settings.effective_store_url.rstrip('/')}/{tenant_id}",
        s3_endpoint_url=settings.s3_endpoint_url,
        lock=lock,
    )
    key = repository_key(settings)
    if create:
        return Repository.open_or_init(store, key=key, lock=lock)
    return Repository.open(store, key=key, lock=lock)


def open_catalog(settings: RewindSettings) -> Catalog:
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Catalog(settings.effective_database_url)


@contextmanager
def catalog_session(settings: RewindSettings) -> Iterator[Catalog]:
    catalog = open_catalog(settings)
    try:
        yield catalog
    finally:
        catalog.close()


def tenant_graph(settings: RewindSettings, tenant: str | None) -> tuple[GraphConfig, GraphClient]:
    config = graph_config(settings, tenant_id=tenant)
    return config, GraphClient(config)


async def resolve_tenant_id(graph: GraphClient, configured: str) -> str:
    """Repositories are keyed by the tenant's GUID, which a domain name in the settings does not give."""
    claims = await graph.token_claims()
    return str(claims.get("tid") or configured)


def restore_service(settings: RewindSettings, catalog: Catalog) -> RestoreService:
    """The restore workflow over the catalog, each tenant's repository and the restore credential."""

    def repository_for(tenant_id: str) -> Repository:
        return open_repository(settings, tenant_id, create=False)

    def graph_for(tenant_id: str) -> GraphClient:
        return GraphClient(restore_graph_config(settings, tenant_id=tenant_id))

    return RestoreService(
        catalog=catalog,
        repository_for=repository_for,
        graph_for=graph_for,
        policy=ApprovalPolicy.from_settings(settings),
        options=PlanOptions(break_glass=tuple(settings.break_glass_accounts)),
    )


async def tenant_guid(settings: RewindSettings, tenant: str | None) -> str:
    """Restore requests and repositories are keyed by the tenant's GUID; a configured domain is resolved."""
    configured = tenant or settings.tenant_id
    if not configured:
        raise ConfigurationError(
            "no tenant: set REWIND_TENANT_ID to the tenant's GUID or domain (or pass --tenant)"
        )
    if is_object_id(configured):
        return configured.lower()
    _config, graph = tenant_graph(settings, configured)
    async with graph:
        return await resolve_tenant_id(graph, configured)
