"""One emulated tenant: the object the HTTP server hands every Graph request to."""

from __future__ import annotations

import gc
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.protocol import Caller, GraphRequest, GraphResponse, TenantSeed, graph_error

from .audit import AuditLog, modified, target
from .changelog import ChangeLog
from .clock import iso
from .context import Ctx
from .delta import DeltaEngine
from .errors import GraphFault
from .lifecycle import deleted_view, expire
from .routes import route
from .store import Store
from .tokens import TokenSigner
from .types import LOG_COLLECTIONS, Obj

log = logging.getLogger(__name__)
FREEZE_AFTER_USERS = 10_000  # below this a full collection is cheap enough to leave alone


@dataclass
class DirectoryOptions:
    # New objects stay invisible to GET-by-id (404) and as reference targets (400) for this long.
    replication_lag_s: float = 0.0
    delta_token_ttl_s: float = 7 * 86400
    # Default delta page size; a request's "Prefer: odata.maxpagesize=N" (<= 999) overrides it.
    delta_page_size: int = 200
    # A group's members@delta is split in chunks of this size; later chunks repeat the group entry.
    delta_member_chunk: int = 100
    clock: Callable[[], float] = time.time


def _plain_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (tuples become lists), sharing nothing with the store."""
    if isinstance(value, dict):
        return {k: _plain_copy(v) if isinstance(v, dict | list | tuple) else v for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_copy(v) if isinstance(v, dict | list | tuple) else v for v in value]
    return value


class Tenant:
    """Satisfies ``emulator.protocol.TenantDirectory``; confined to the server's event-loop thread."""

    def __init__(self, tenant_id: str, default_domain: str, options: DirectoryOptions | None = None) -> None:
        self.tenant_id = tenant_id
        self.default_domain = default_domain
        self.options = options or DirectoryOptions()
        self.store = Store(ChangeLog())
        self.signer = TokenSigner(secrets.token_bytes(32))
        self.epoch = 0  # bumped by expire_delta_tokens; tokens carry the epoch they were issued in
        self.audit = AuditLog(self.store, tenant_id, lambda: self.options.clock())
        self.delta = DeltaEngine(self)
        self.transitive_cache: dict[tuple[str, str], tuple[int, list[str]]] = {}

    def __repr__(self) -> str:
        return f"Tenant({self.tenant_id!r}, {self.default_domain!r}, users={self.user_count()})"

    @classmethod
    def from_seed(cls, seed: TenantSeed, options: DirectoryOptions | None = None) -> Tenant:
        tenant = cls(seed.tenant_id, seed.default_domain, options)
        # A big tenant is millions of long-lived containers. Collecting while they are built only slows the
        # load, and left in the young generations they make a later request pay a full collection (seconds
        # at 100k users). Freezing moves them out of the cyclic collector's sight; the store holds no
        # reference cycles, so reference counting still frees whatever is deleted later.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            tenant.store.load(seed)
        finally:
            if was_enabled:
                gc.enable()
        if tenant.user_count() >= FREEZE_AFTER_USERS:
            gc.freeze()
        return tenant

    # ----- protocol

    def user_count(self) -> int:
        return len(self.store.coll("users"))

    def handle(self, request: GraphRequest, caller: Caller) -> GraphResponse:
        try:
            if request.version not in ("v1.0", "beta"):
                return graph_error(400, "BadRequest", f"Invalid version '{request.version}'.")
            now = self.options.clock()
            expire(self.store, now)
            return route(self, Ctx(request, caller, now))
        except GraphFault as fault:
            return fault.response()
        except Exception:  # never let a bad request take the server down; the log keeps the trace
            log.exception("directory emulator failed on %s %s", request.method, request.path)
            return graph_error(
                500, "InternalServerError", "The directory emulator failed to process the request."
            )

    def dump(self) -> dict[str, Any]:
        store = self.store
        objects = {
            name: {obj_id: _plain_copy(coll.objs[obj_id]) for obj_id in sorted(coll.objs)}
            for name, coll in sorted(store.collections.items())
            if name not in LOG_COLLECTIONS
        }
        # Relationship lists are already fresh lists of strings: no deep copy needed.
        relations = {
            rel: {src: list(targets) for src, targets in sorted(relation.forward.items())}
            for rel, relation in store.relations.items()
        }
        deleted = {
            obj_id: {"type": store.deleted[obj_id].collection, "object": deleted_view(store.deleted[obj_id])}
            for obj_id in sorted(store.deleted)
        }
        copied: dict[str, Any] = _plain_copy(
            {
                "deleted": deleted,
                "singletons": dict(sorted(store.singletons.items())),
                "logs": {name: list(store.coll(name).objs.values()) for name in LOG_COLLECTIONS},
            }
        )
        return {
            "tenant_id": self.tenant_id,
            "default_domain": self.default_domain,
            "objects": objects,
            "members": relations["members"],
            "owners": relations["owners"],
            "manager": {user: targets[0] for user, targets in relations["manager"].items()},
            **copied,
        }

    def expire_delta_tokens(self) -> None:
        self.epoch += 1

    def ensure_service_principal(self, app_id: str, display_name: str) -> str:
        store = self.store
        existing = store.sp_by_appid.get(app_id)
        if existing is not None:
            return existing
        now = iso(self.options.clock())
        if app_id not in store.app_by_appid:
            app: Obj = {
                "id": str(uuid.uuid4()),
                "appId": app_id,
                "displayName": display_name,
                "signInAudience": "AzureADMyOrg",
                "publisherDomain": self.mail_domain(),
                "createdDateTime": now,
                "identifierUris": [],
                "appRoles": [],
                "requiredResourceAccess": [],
                "passwordCredentials": [],
                "keyCredentials": [],
                "tags": [],
            }
            store.insert("applications", app)
        sp: Obj = {
            "id": str(uuid.uuid4()),
            "appId": app_id,
            "displayName": display_name,
            "appDisplayName": display_name,
            "accountEnabled": True,
            "appOwnerOrganizationId": self.tenant_id,
            "appRoleAssignmentRequired": False,
            "servicePrincipalType": "Application",
            "servicePrincipalNames": [app_id],
            "appRoles": [],
            "oauth2PermissionScopes": [],
            "passwordCredentials": [],
            "keyCredentials": [],
            "tags": [],
        }
        return store.insert("servicePrincipals", sp)

    def resolves_domain(self, name: str) -> bool:
        wanted = name.lower()
        if wanted == self.default_domain.lower():
            return True
        return any(domain.lower() == wanted for domain in self.store.coll("domains").objs)

    # ----- helpers for handlers

    @property
    def delta_settings(self) -> tuple[float, int, int, float]:
        opts = self.options
        return opts.delta_token_ttl_s, opts.delta_page_size, opts.delta_member_chunk, opts.clock()

    def lagging(self, obj_id: str, now: float) -> bool:
        """True while an object created through the API is still 'replicating'."""
        lag = self.options.replication_lag_s
        created = self.store.created_at.get(obj_id)
        return lag > 0 and created is not None and now - created < lag

    def mail_domain(self) -> str:
        """The default verified domain new mail addresses and publisherDomain use."""
        for obj_id, domain in self.store.coll("domains").objs.items():
            if domain.get("isDefault"):
                return obj_id
        return self.default_domain

    def audit_target(
        self, collection: str, obj: Obj, changes: dict[str, tuple[Any, Any]] | None = None
    ) -> Obj:
        return target(collection, obj, modified(changes or {}))
