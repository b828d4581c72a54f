"""Live objects, relationships, indexes and the soft-delete container of one tenant."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sortedcontainers import SortedList

from emulator.protocol import TenantSeed

from .changelog import GONE, LINK, NEW, SOFT_DELETED, UPDATED, ChangeLog
from .clock import sortable
from .relations import Relation
from .types import DIRECTORY_TYPES, SINGLETONS, TYPES, Obj, TypeSpec

RELATIONS = ("members", "owners", "manager")


class Collection:
    """Objects of one type, with a sorted index so pages resume after a key in O(log n)."""

    def __init__(self, spec: TypeSpec) -> None:
        self.spec = spec
        self.objs: dict[str, Obj] = {}
        self.order: SortedList = SortedList()
        self._keys: dict[str, Any] = {}  # only for time-ordered collections
        self._tiebreak = 0

    def __len__(self) -> int:
        return len(self.objs)

    def sort_key(self, obj_id: str) -> Any:
        return self._keys[obj_id] if self.spec.time_order else obj_id

    def id_of_key(self, key: Any) -> str:
        return str(key[2]) if self.spec.time_order else str(key)

    def _make_key(self, obj_id: str, obj: Obj, seeded: bool) -> Any:
        if not self.spec.time_order:
            return obj_id
        if not seeded:
            self._tiebreak += 1
        key = (sortable(obj.get(self.spec.time_order[0])), self._tiebreak, obj_id)
        self._keys[obj_id] = key
        return key

    def load(self, objs: list[Obj]) -> None:
        key_prop = self.spec.key
        for raw in objs:
            obj = dict(raw)  # shallow copy: tenants built from one seed must not share top-level dicts
            obj_id = str(obj.get(key_prop) or "")
            if obj_id:
                self.objs[obj_id] = obj
        self.order = SortedList(self._make_key(i, o, True) for i, o in self.objs.items())

    def add(self, obj_id: str, obj: Obj) -> None:
        self.objs[obj_id] = obj
        self.order.add(self._make_key(obj_id, obj, False))

    def discard(self, obj_id: str) -> Obj | None:
        obj = self.objs.pop(obj_id, None)
        if obj is not None:
            self.order.remove(self.sort_key(obj_id))
            self._keys.pop(obj_id, None)
        return obj


@dataclass
class Deleted:
    collection: str
    obj: Obj  # exactly as it was live, so a restore brings back an identical object
    deleted_at: float
    deleted_dt: str  # deletedDateTime shown while in the container
    # Relationship links (rel, source, target) hidden while deleted and brought back on restore.
    stash: list[tuple[str, str, str]] = field(default_factory=list)


def addresses_of(obj: Obj) -> set[str]:
    """Lower-cased SMTP addresses an object claims (mail plus proxyAddresses)."""
    out: set[str] = set()
    mail = obj.get("mail")
    if isinstance(mail, str) and mail:
        out.add(mail.lower())
    for proxy in obj.get("proxyAddresses") or []:
        if isinstance(proxy, str) and proxy.lower().startswith("smtp:"):
            out.add(proxy[5:].lower())
    return out


class Store:
    def __init__(self, changes: ChangeLog) -> None:
        self.changes = changes
        self.collections: dict[str, Collection] = {name: Collection(spec) for name, spec in TYPES.items()}
        self.singletons: dict[str, Obj] = {name: {} for name in SINGLETONS}
        self.relations: dict[str, Relation] = {name: Relation() for name in RELATIONS}
        # App role assignment indexes: resource SP id -> assignment ids, principal id -> assignment ids.
        self.assigned_to = Relation()
        self.assignments_of = Relation()
        self.kind: dict[str, str] = {}  # live directory object id -> collection
        self.deleted: dict[str, Deleted] = {}
        self.deleted_order: dict[str, SortedList] = {}
        self._expiry: deque[tuple[float, str]] = deque()
        self.upn: dict[str, str] = {}  # lower-cased userPrincipalName -> live user id
        self.addresses: dict[str, str] = {}  # lower-cased SMTP address -> live owner id
        self.app_by_appid: dict[str, str] = {}
        self.sp_by_appid: dict[str, str] = {}
        self.created_at: dict[str, float] = {}  # objects created through the API, for replication lag
        # Known property names per collection: the static schema plus whatever the seed carries.
        self.schema: dict[str, set[str]] = {name: set(spec.schema) for name, spec in TYPES.items()}

    # ----- loading

    def load(self, seed: TenantSeed) -> None:
        for name, objs in seed.collections.items():
            if name in self.collections:
                self.collections[name].load(objs)
        for name, coll in self.collections.items():
            known = self.schema[name]
            for obj in coll.objs.values():
                known.update(obj.keys())
            if coll.spec.directory_object:
                for obj_id in coll.objs:
                    self.kind[obj_id] = name
            for obj_id, obj in coll.objs.items():
                self._index(name, obj_id, obj)
        for name in SINGLETONS:
            self.singletons[name] = dict(seed.singletons.get(name) or {})
        kind = self.kind
        for source, targets in seed.members.items():
            if source in kind:
                self.relations["members"].load(source, (t for t in targets if t in kind))
        for source, targets in seed.owners.items():
            if source in kind:
                self.relations["owners"].load(source, (t for t in targets if t in kind))
        manager = self.relations["manager"]
        for user_id, manager_id in seed.manager.items():
            if user_id in kind and manager_id in kind and user_id != manager_id:
                manager.load(user_id, (manager_id,))

    # ----- lookups

    def coll(self, name: str) -> Collection:
        return self.collections[name]

    def get(self, collection: str, obj_id: str) -> Obj | None:
        return self.collections[collection].objs.get(obj_id)

    def find(self, obj_id: str) -> tuple[str, Obj] | None:
        """A live directory object by id, whatever its type."""
        name = self.kind.get(obj_id)
        if name is None:
            return None
        return name, self.collections[name].objs[obj_id]

    def type_of(self, obj_id: str) -> str:
        name = self.kind.get(obj_id)
        if name is None and obj_id in self.deleted:
            name = self.deleted[obj_id].collection
        return TYPES[name].type_annotation if name else "#microsoft.graph.directoryObject"

    def user_by_upn(self, upn: str) -> str | None:
        return self.upn.get(upn.lower())

    # ----- indexes

    def _index(self, collection: str, obj_id: str, obj: Obj) -> None:
        if collection == "users":
            upn = obj.get("userPrincipalName")
            if isinstance(upn, str):
                self.upn[upn.lower()] = obj_id
        if collection in ("users", "groups"):
            for address in addresses_of(obj):
                self.addresses.setdefault(address, obj_id)
        elif collection == "applications" and obj.get("appId"):
            self.app_by_appid[str(obj["appId"])] = obj_id
        elif collection == "servicePrincipals" and obj.get("appId"):
            self.sp_by_appid[str(obj["appId"])] = obj_id
        elif collection == "appRoleAssignments":
            self.assigned_to.add(str(obj.get("resourceId")), obj_id)
            self.assignments_of.add(str(obj.get("principalId")), obj_id)

    def _unindex(self, collection: str, obj_id: str, obj: Obj) -> None:
        if collection == "users":
            upn = obj.get("userPrincipalName")
            if isinstance(upn, str) and self.upn.get(upn.lower()) == obj_id:
                del self.upn[upn.lower()]
        if collection in ("users", "groups"):
            for address in addresses_of(obj):
                if self.addresses.get(address) == obj_id:
                    del self.addresses[address]
        elif collection == "applications":
            if self.app_by_appid.get(str(obj.get("appId"))) == obj_id:
                del self.app_by_appid[str(obj.get("appId"))]
        elif collection == "servicePrincipals":
            if self.sp_by_appid.get(str(obj.get("appId"))) == obj_id:
                del self.sp_by_appid[str(obj.get("appId"))]
        elif collection == "appRoleAssignments":
            self.assigned_to.remove(str(obj.get("resourceId")), obj_id)
            self.assignments_of.remove(str(obj.get("principalId")), obj_id)

    # ----- object writes (every one is logged for delta)

    def insert(self, collection: str, obj: Obj, *, now: float | None = None) -> str:
        coll = self.collections[collection]
        obj_id = str(obj[coll.spec.key])
        coll.add(obj_id, obj)
        if coll.spec.directory_object:
            self.kind[obj_id] = collection
        self._index(collection, obj_id, obj)
        if now is not None:
            self.created_at[obj_id] = now
        self.changes.record(collection, obj_id, NEW)
        return obj_id

    def update(self, collection: str, obj_id: str, patch: Obj) -> dict[str, tuple[Any, Any]]:
        """Apply patch; returns {prop: (old, new)} for properties that actually changed."""
        obj = self.collections[collection].objs[obj_id]
        changed = {k: (obj.get(k), v) for k, v in patch.items() if obj.get(k) != v or k not in obj}
        if changed:
            self._unindex(collection, obj_id, obj)
            obj.update({k: new for k, (_, new) in changed.items()})
            self._index(collection, obj_id, obj)
            self.changes.record(collection, obj_id, UPDATED, props=frozenset(changed))
        return changed

    def remove(self, collection: str, obj_id: str, *, log: bool = True) -> Obj | None:
        obj = self.collections[collection].discard(obj_id)
        if obj is None:
            return None
        self.kind.pop(obj_id, None)
        self.created_at.pop(obj_id, None)
        self._unindex(collection, obj_id, obj)
        if log:
            self.changes.record(collection, obj_id, GONE)
        return obj

    # ----- relationship writes

    def _source_collection(self, rel: str, source: str) -> str:
        if rel == "manager":
            return "users"
        return self.kind.get(source) or (self.deleted[source].collection if source in self.deleted else "")

    def link(self, rel: str, source: str, target: str) -> bool:
        if not self.relations[rel].add(source, target):
            return False
        self.changes.record(
            self._source_collection(rel, source),
            source,
            LINK,
            rel=rel,
            target=target,
            target_type=self.type_of(target),
        )
        return True

    def unlink(self, rel: str, source: str, target: str) -> bool:
        target_type = self.type_of(target)
        if not self.relations[rel].remove(source, target):
            return False
        self.changes.record(
            self._source_collection(rel, source),
            source,
            LINK,
            rel=rel,
            target=target,
            target_type=target_type,
            added=False,
        )
        return True

    def detach(self, obj_id: str) -> list[tuple[str, str, str]]:
        """Drop every relationship link touching obj_id; returns them as (rel, source, target).

        Links out of obj_id aren't logged: delta reports the object itself as removed, and a restore sends
        it again in full. Links into it are logged against their source (a group losing a member).
        """
        dropped: list[tuple[str, str, str]] = []
        target_type = self.type_of(obj_id)
        for rel, relation in self.relations.items():
            dropped.extend((rel, obj_id, target) for target in relation.drop_source(obj_id))
            for source in relation.drop_target(obj_id):
                dropped.append((rel, source, obj_id))
                self.changes.record(
                    self._source_collection(rel, source),
                    source,
                    LINK,
                    rel=rel,
                    target=obj_id,
                    target_type=target_type,
                    added=False,
                )
        return dropped

    # ----- soft-delete container

    def add_deleted(self, obj_id: str, entry: Deleted) -> None:
        self.deleted[obj_id] = entry
        self.deleted_order.setdefault(entry.collection, SortedList()).add(obj_id)
        self._expiry.append((entry.deleted_at, obj_id))
        self.changes.record(entry.collection, obj_id, SOFT_DELETED)

    def pop_deleted(self, obj_id: str) -> Deleted:
        entry = self.deleted.pop(obj_id)
        self.deleted_order[entry.collection].remove(obj_id)
        return entry

    def expired_deleted(self, cutoff: float) -> Iterator[str]:
        """Ids deleted before cutoff still waiting in the container, oldest first (consumes the queue)."""
        while self._expiry and self._expiry[0][0] < cutoff:
            deleted_at, obj_id = self._expiry.popleft()
            entry = self.deleted.get(obj_id)
            if entry is not None and entry.deleted_at == deleted_at:
                yield obj_id

    def directory_counts(self) -> dict[str, int]:
        return {name: len(self.collections[name]) for name in DIRECTORY_TYPES}
