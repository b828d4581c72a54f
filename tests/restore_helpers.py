"""Comparing the emulator's state with a snapshot after a restore, modulo the ids recreated objects got."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.catalog import Catalog
from core.graph import GraphClient
from core.graph.limiter import GraphLimiter, TokenBucket
from core.registry import object_type
from core.repository import Repository
from core.restore.approval import RequestState, insert_request
from core.restore.identity import Person
from core.restore.model import Plan, remap
from core.restore.plan_bodies import SERVER_FIELDS
from core.snapshots import SnapshotReader
from core.store import open_store
from emulator.testing import EmulatorHandle
from tests.backup_helpers import Rig, graph_config_for

CA_PER_S = 200  # Conditional Access reads per second in tests (production allows one; it has its own tests)

# Registry type -> the emulator dump's collection.
DUMP_COLLECTIONS = {
    "user": "users",
    "group": "groups",
    "application": "applications",
    "servicePrincipal": "servicePrincipals",
    "appRoleAssignment": "appRoleAssignments",
    "oauth2PermissionGrant": "oauth2PermissionGrants",
    "unifiedRoleAssignment": "roleAssignments",
    "unifiedRoleDefinition": "roleDefinitions",
    "unifiedRoleEligibilitySchedule": "roleEligibilitySchedules",
    "namedLocation": "namedLocations",
    "authenticationStrengthPolicy": "authenticationStrengthPolicies",
    "conditionalAccessPolicy": "conditionalAccessPolicies",
    "administrativeUnit": "administrativeUnits",
    "crossTenantAccessPolicyConfigurationPartner": "crossTenantAccessPartners",
    "domain": "domains",
}
COMPARED_LINKS = ("members", "owners", "manager")
# Values a new object gets from the server, or that differ by design after a recreate.
RECREATED_IGNORED = frozenset(
    {"appId", "publisherDomain", "securityIdentifier", "mail", "proxyAddresses"}
    # derived by Graph from the (new) app registration or from publisher verification, never written
    | {"verifiedPublisher", "publisherName", "info", "appDisplayName", "signInAudience"}
    # lost with the old object, as the plan warns (licences are assigned again, identities follow the UPN)
    | {"assignedLicenses", "identities"}
)


def mismatches(
    dump: Mapping[str, Any],
    reader: SnapshotReader,
    *,
    new_ids: Mapping[str, str],
    types: Iterable[str] | None = None,
    ids: Iterable[str] | None = None,
    ignore: Mapping[str, Iterable[str]] | None = None,
) -> list[str]:
    """Every difference between the snapshot and the emulator for the given types (default: all the
    dump holds) or object ids, after mapping new ids back to the snapshot's; ``[]`` when they agree."""
    old_of = {new: old for old, new in new_ids.items()}
    wanted_ids = set(ids) if ids is not None else None
    names = [n for n in (types or reader.type_names()) if n in DUMP_COLLECTIONS]
    found: list[str] = []
    for name in names:
        t = object_type(name)
        skipped = SERVER_FIELDS | t.volatile | t.unrestorable | set((ignore or {}).get(name, ()))
        collection = dump["objects"].get(DUMP_COLLECTIONS[name], {})
        for stored in reader.objects(name):
            if wanted_ids is not None and stored.id not in wanted_ids:
                continue
            live_id = new_ids.get(stored.id, stored.id)
            live = collection.get(live_id)
            if live is None:
                found.append(f"{name} {stored.id} is missing")
                continue
            live = remap(live, old_of)
            recreated = live_id != stored.id
            for key, value in stored.object.items():
                if key in skipped or key.startswith("@") or (recreated and key in RECREATED_IGNORED):
                    continue
                if _normal(live.get(key)) != _normal(value):
                    found.append(f"{name} {stored.id} {key}: snapshot {value!r}, emulator {live.get(key)!r}")
            links = dict(stored.links)
            if "DynamicMembership" in (stored.object.get("groupTypes") or []):
                links.pop("members", None)  # the membership rule fills it, restore never writes it
            found.extend(_link_mismatches(dump, name, stored.id, live_id, links, old_of))
    return found


def _link_mismatches(
    dump: Mapping[str, Any],
    name: str,
    object_id: str,
    live_id: str,
    links: Mapping[str, Any],
    old_of: Mapping[str, str],
) -> list[str]:
    out: list[str] = []
    for rel in COMPARED_LINKS:
        if rel not in links:
            continue
        want = links[rel]
        have = dump.get(rel, {}).get(live_id)
        if rel == "manager":
            if (old_of.get(have, have) if have else None) != want:
                out.append(f"{name} {object_id} manager: snapshot {want}, emulator {have}")
            continue
        wanted = set(want or [])
        present = {old_of.get(i, i) for i in have or []}
        if wanted != present:
            missing, extra = sorted(wanted - present), sorted(present - wanted)
            out.append(f"{name} {object_id} {rel}: missing {missing}, extra {extra}")
    return out


def _normal(value: Any) -> Any:
    return None if value == [] else value


def roomy_limiter() -> GraphLimiter:
    limiter = GraphLimiter()
    limiter.conditional_access = TokenBucket("conditional_access", CA_PER_S, 1, limiter.clock, headroom=1.0)
    return limiter


@asynccontextmanager
async def restore_rig(handle: EmulatorHandle, tmp_path: Path) -> AsyncIterator[Rig]:
    """``tests.backup_helpers.rig`` with Conditional Access reads not held to one a second."""
    handle.configure(throttling={"conditional_access_limit": CA_PER_S})
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    repo = Repository.open_or_init(open_store((tmp_path / "store").as_uri()), key=None)
    try:
        async with GraphClient(graph_config_for(handle), limiter=roomy_limiter()) as graph:
            yield Rig(handle, graph, repo, catalog)
    finally:
        catalog.close()


def new_request(catalog: Catalog, plan: Plan) -> str:
    """A bare executing request row for the plan: journal steps belong to one."""
    with catalog.writing() as conn:
        return insert_request(
            conn,
            plan,
            Person.of("test requester", platform="cli", user="requester"),
            state=RequestState.EXECUTING,
            required_approvals=1,
            now=datetime.now(UTC),
            ttl=timedelta(minutes=30),
        )
