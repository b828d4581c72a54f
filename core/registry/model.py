"""The shape of a registry entry: everything backup, diff and restore need to know about one Entra type."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal
from urllib.parse import quote

# Values that Conditional Access and similar policies use in place of object ids.
SPECIAL_REFERENCE_VALUES = frozenset(
    {"All", "None", "GuestsOrExternalUsers", "AllTrusted", "Office365", "MicrosoftAdminPortals", "AllApps"}
)


class Refresh(Enum):
    """How an incremental backup learns that a relationship changed."""

    DELTA = "delta"  # rides on the owning type's delta round (members@delta, manager@delta)
    AUDIT = "audit"  # re-read only for owners named by directory audit records since the last snapshot
    ALWAYS = "always"  # re-read on every backup (small collections)


class RestoreMode(Enum):
    RECYCLE_BIN = "recycle_bin"  # /directory/deletedItems restore, else recreate
    CA_DELETED_ITEMS = "ca_deleted_items"  # beta conditionalAccess deletedItems restore, else recreate
    RECREATE = "recreate"  # hard-deleted by Graph: POST a new object, remap references
    PATCH = "patch"  # singletons and settings: PATCH back the saved values
    READ_ONLY = "read_only"  # kept for history and diff, never written back


@dataclass(frozen=True)
class Relationship:
    """A link collection owned by an object (group members, app owners, a user's manager)."""

    name: str  # members, owners, manager, appRoleAssignedTo, scopedRoleMembers
    path: str  # "/groups/{id}/members"
    targets: tuple[str, ...]  # object types the link may point at
    refresh: Refresh
    single: bool = False  # manager is one id, not a list
    page_size: int = 999


@dataclass(frozen=True)
class Reference:
    """Object ids held inside a property (a CA policy's includeGroups, a role assignment's principalId).

    These are the dependency edges restore follows and rewrites when a referenced object is recreated.
    """

    path: str  # dotted path into the object; lists are followed element-wise
    targets: tuple[str, ...]
    key: str | None = None  # for lists of objects, the field holding the id


@dataclass(frozen=True)
class ObjectType:
    name: str  # Graph resource type name; the key of backup counts ("user", "group", ...)
    title: str  # what a person calls it, plural ("users", "Conditional Access policies")
    list_path: str
    read_permission: str
    write_permission: str | None
    restore: RestoreMode
    page_size: int | None = 999  # max $top; None when the endpoint takes no $top
    select: tuple[str, ...] = ()  # () = what Graph returns by default
    delta_path: str | None = None
    relationships: tuple[Relationship, ...] = ()
    references: tuple[Reference, ...] = ()
    volatile: frozenset[str] = frozenset()  # change constantly; stored apart so they don't defeat dedup
    unrestorable: frozenset[str] = frozenset()  # cannot be read back or written (secrets, server-assigned)
    read_only: frozenset[str] = frozenset({"id", "createdDateTime", "deletedDateTime"})
    deleted_items_cast: str | None = None  # "microsoft.graph.user" for /directory/deletedItems/{cast}
    singleton: bool = False
    parent: str | None = (
        None  # child collections read per parent object (appRoleAssignment under servicePrincipal)
    )
    api_version: Literal["v1.0", "beta"] = "v1.0"
    id_field: str = "id"
    display_field: str = "displayName"
    principal_field: str | None = None  # userPrincipalName for users, appId for apps: how people name it
    throttle_class: Literal["identity", "conditional_access", "reports"] = "identity"
    synced_flag: str | None = None  # property that marks on-premises-mastered objects
    # Restore: properties that find an object a killed run may already have created (never created twice).
    natural_key: tuple[str, ...] = ()
    # Restore: where a recreate POSTs when not ``list_path`` ("{field}" filled from the body).
    create_path: str | None = None
    # Restore: properties never sent when creating (server-assigned, or settable only through other calls).
    create_omit: frozenset[str] = frozenset()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_delta(self) -> bool:
        return self.delta_path is not None

    def item_path(self, object_id: str, parent: str | None = None) -> str:
        """Where one object lives: ``/users/{id}``, a singleton's own path, a child under its parent."""
        if self.singleton:
            return self.list_path
        collection = self.list_path.format(parent=parent) if self.parent else self.list_path
        return f"{collection}/{quote(object_id, safe='')}"

    def delta_select(self) -> tuple[str, ...]:
        """$select for delta rounds: the properties plus the relationships that ride on delta."""
        riding = tuple(r.name for r in self.relationships if r.refresh is Refresh.DELTA)
        return (*self.select, *riding) if self.select else ()

    def referenced_ids(self, obj: dict[str, Any]) -> Iterator[tuple[Reference, str]]:
        """Every (reference, id) this object points at, skipping special values such as "All"."""
        for ref in self.references:
            for value in _values_at(obj, ref.path.split(".")):
                item = value.get(ref.key) if ref.key and isinstance(value, dict) else value
                if isinstance(item, str) and item and item not in SPECIAL_REFERENCE_VALUES:
                    yield ref, item


def _values_at(node: Any, parts: list[str]) -> Iterator[Any]:
    if not parts:
        if isinstance(node, list):
            yield from node
        elif node is not None:
            yield node
        return
    if isinstance(node, list):
        for element in node:
            yield from _values_at(element, parts)
    elif isinstance(node, dict):
        yield from _values_at(node.get(parts[0]), parts[1:])
