"""GraphLiveTenant's bulk reads: what they return must equal what one GET per object returns, fingerprints
included (plan and run must agree), at a fraction of the requests."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from core.graph import GraphClient
from core.graph.errors import NotFound
from core.registry import object_type
from core.restore.graph_live import GraphLiveTenant
from core.restore.live import LiveObject, ObjectRef, Presence, fingerprint
from emulator.testing import EmulatorHandle, running_emulator
from tests.backup_helpers import graph_config_for
from tests.restore_helpers import CA_PER_S, roomy_limiter


@pytest.fixture(scope="module")
def handle() -> Iterator[EmulatorHandle]:
    with running_emulator(users=60, seed=7) as h:
        h.configure(throttling={"conditional_access_limit": CA_PER_S})
        yield h


@pytest.fixture
async def graph(handle: EmulatorHandle) -> AsyncIterator[GraphClient]:
    async with GraphClient(graph_config_for(handle), limiter=roomy_limiter()) as client:
        yield client


def _plain(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if not k.startswith("@")}


async def one_get(graph: GraphClient, ref: ObjectRef) -> LiveObject:
    """The reference: one GET of the object, one of the recycle bin when it is not there, one per link."""
    t = object_type(ref.object_type)
    select = f"?$select={','.join(t.select)}" if t.select else ""
    has_manager = any(r.name == "manager" for r in t.relationships)
    url = f"{t.list_path}/{ref.object_id}{select}"
    if has_manager:
        url += ("&" if select else "?") + "$expand=manager($select=id)"
    try:
        body = _plain(await graph.get(url))
    except NotFound:
        try:
            deleted = await graph.get(f"/directory/deletedItems/{ref.object_id}{select}")
        except NotFound:
            return LiveObject(ref, Presence.ABSENT)
        return LiveObject(ref, Presence.DELETED, _plain(deleted))
    links: dict[str, list[str] | str | None] = {}
    if has_manager:
        manager = body.pop("manager", None)
        links["manager"] = manager["id"] if isinstance(manager, dict) else None
    for rel in t.relationships:
        if not rel.single:
            path = rel.path.format(id=ref.object_id)
            links[rel.name] = [str(i["id"]) async for i in graph.iter_items(path, params={"$select": "id"})]
    return LiveObject(ref, Presence.PRESENT, body, links)


def _ids(handle: EmulatorHandle, collection: str) -> list[str]:
    return sorted(handle.dump()["objects"][collection])


async def test_bulk_reads_equal_one_get_per_object(handle: EmulatorHandle, graph: GraphClient) -> None:
    dump = handle.dump()
    users = sorted(dump["objects"]["users"])
    managed = [u for u in users if u in dump["manager"]][:3]
    unmanaged = [u for u in users if u not in dump["manager"]][:3]
    soft, hard = users[-4:-2], users[-2:]
    groups = sorted(dump["objects"]["groups"])
    unified = [g for g in groups if "Unified" in (dump["objects"]["groups"][g].get("groupTypes") or [])]
    groups.remove(unified[0])
    groups.append(unified[0])  # Microsoft 365 groups go to the recycle bin
    for user in soft:
        handle.incident("delete", "user", user)
    for user in hard:
        handle.incident("hard-delete", "user", user)
    handle.incident("delete", "group", groups[-1])
    refs = (
        [ObjectRef("user", u) for u in managed + unmanaged + soft + hard + [str(uuid.uuid4())]]
        + [ObjectRef("group", g) for g in groups]
        + [ObjectRef("application", a) for a in sorted(dump["objects"]["applications"])[:2]]
        + [ObjectRef("servicePrincipal", s) for s in sorted(dump["objects"]["servicePrincipals"])[:2]]
        + [ObjectRef("administrativeUnit", a) for a in sorted(dump["objects"]["administrativeUnits"])]
    )
    bulk = await GraphLiveTenant(graph).fetch_many(refs)
    expected = [await one_get(graph, ref) for ref in refs]
    assert [b.ref for b in bulk] == refs
    assert bulk == expected
    assert [fingerprint(b) for b in bulk] == [fingerprint(e) for e in expected]
    presence = {b.ref.object_id: b.presence for b in bulk}
    assert {presence[u] for u in soft} == {Presence.DELETED}
    assert {presence[u] for u in hard} == {Presence.ABSENT}
    assert presence[groups[-1]] is Presence.DELETED
    assert all(isinstance(b.links.get("manager"), str) for b in bulk[:3])


async def test_absent_objects_cost_two_queries_per_fifteen(
    handle: EmulatorHandle, graph: GraphClient
) -> None:
    refs = [ObjectRef("user", str(uuid.uuid4())) for _ in range(40)]
    handle.reset_counters()
    lives = await GraphLiveTenant(graph).fetch_many(refs)
    counters = handle.counters()["totals"]
    assert {live.presence for live in lives} == {Presence.ABSENT}
    # One round of live queries, one of recycle bin queries: 3 + 3 operations, not 40 + 40.
    assert counters["requests"] == 2 * math.ceil(40 / 15)
    assert counters["batches"] == 2


async def test_order_duplicates_and_other_types_are_kept(handle: EmulatorHandle, graph: GraphClient) -> None:
    users = _ids(handle, "users")[:17]  # more than one query's worth
    grant = _ids(handle, "oauth2PermissionGrants")[0]
    policy = _ids(handle, "conditionalAccessPolicies")[0]
    refs = [ObjectRef("oauth2PermissionGrant", grant), ObjectRef("conditionalAccessPolicy", policy)]
    refs += [ObjectRef("user", u) for u in reversed(users)] + [ObjectRef("user", users[0])]
    odd = ObjectRef("user", "not-a-guid")  # Graph refuses it inside a filter: read on its own
    lives = await GraphLiveTenant(graph).fetch_many([*refs, odd])
    assert [live.ref for live in lives] == [*refs, odd]
    assert lives[-1] == LiveObject(odd, Presence.ABSENT)
    lives = lives[:-1]
    assert lives[-1] == lives[-2]  # the duplicate is read once and answered twice
    assert {live.presence for live in lives} == {Presence.PRESENT}
    assert lives[0].object is not None and lives[0].object["id"] == grant
    assert lives[1] == await GraphLiveTenant(graph).fetch(refs[1])
