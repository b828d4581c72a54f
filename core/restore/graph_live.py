"""The live tenant through Microsoft Graph, read in ``$batch`` rounds of 20.

Directory objects (users, groups, applications, service principals, administrative units) are read in bulk:
``$filter=id in (...)`` with 15 ids a query, 20 queries a ``$batch``. One round reads the objects (a user's
manager rides along as ``$expand``); a second looks the missing ones up in the recycle bin the same way and,
at the same time, reads the relationships restore relinks of the present ones. Re-validating 1,000 absent
users therefore costs about 140 queries in 7 batches, not 2,000 GETs that each answer 404. Other objects are
read one GET each; Conditional Access collections are listed whole.
"""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from core.graph import BatchRequest, BatchResponse, GraphClient
from core.graph.batch import MAX_BATCH
from core.graph.classify import classify_response
from core.registry import ObjectType, RestoreMode, object_type
from core.registry.model import Relationship
from core.restore.live import LiveObject, ObjectRef, Presence
from core.tasks import all_or_cancel

Links = dict[str, list[str] | str | None]
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PRINCIPAL_PATHS = ("/users", "/groups", "/servicePrincipals")
_IN_VALUES = 15  # values in one ``$filter=... in (...)``: Graph's limit on directory object queries
_CA_DELETED = {
    "conditionalAccessPolicy": "/identity/conditionalAccess/deletedItems/policies",
    "namedLocation": "/identity/conditionalAccess/deletedItems/namedLocations",
}


def principal_of_assignment(assignment_id: str) -> str | None:
    """An appRoleAssignment id starts with its principal's object id (16 bytes, GUID byte order)."""
    try:
        raw = base64.urlsafe_b64decode(assignment_id + "=" * (-len(assignment_id) % 4))
    except (ValueError, TypeError):
        return None
    return str(uuid.UUID(bytes_le=raw[:16])) if len(raw) >= 16 else None


def _plain(body: Any) -> dict[str, Any]:
    """The object without OData annotations, the shape backup stores."""
    if not isinstance(body, dict):
        return {}
    return {k: v for k, v in body.items() if not k.startswith("@") and not k.endswith("@delta")}


def _select(t: ObjectType) -> str:
    return f"?$select={','.join(t.select)}" if t.select else ""


class GraphLiveTenant:
    """``LiveTenant`` over a ``GraphClient``. Parents of child objects (an appRoleAssignment's service
    principal) may be told with ``remember_parents``; without one the principal is probed."""

    def __init__(self, graph: GraphClient) -> None:
        self.graph = graph
        self._parents: dict[str, str] = {}
        self._sizes: dict[tuple[str, str], int] = {}  # (object key, relationship) -> ids it held last read

    def remember_parents(self, parents: Mapping[str, str]) -> None:
        """``"type/id" -> parent id`` for child objects, as the snapshot recorded them."""
        self._parents.update(parents)

    async def fetch(self, ref: ObjectRef) -> LiveObject:
        return (await self.fetch_many([ref]))[0]

    async def fetch_many(self, refs: Sequence[ObjectRef]) -> list[LiveObject]:
        # Conditional Access allows one request per second: read those collections whole, once.
        listed = [r for r in refs if object_type(r.object_type).throttle_class == "conditional_access"]
        found = await self._read_listed(listed)
        listed_keys = {r.key for r in listed}
        rest = list({r.key: r for r in refs if r.key not in listed_keys}.values())
        filtered = [r for r in rest if _filterable(r)]
        one_by_one = [r for r in rest if not _filterable(r)]
        # Lists of links are read along with the objects, not after: a big group's member pages are the
        # longest chain of reads, and an object that turns out missing only wastes one 404.
        listing = [
            (r, rel) for r in rest for rel in object_type(r.object_type).relationships if not rel.single
        ]
        objects, links = await asyncio.gather(
            self._read_objects(filtered, one_by_one), self._read_links(listing)
        )
        found.update(objects)
        present = [found[k] for k in {r.key: r for r in refs} if k in found]
        for live in present:
            if live.presence is Presence.PRESENT:
                live.links.update(links.get(live.ref.key, {}))
        # The recycle bin for what is missing, and what is left of the links of what is there.
        missing = [r for r in filtered if r.key not in found]
        left = [
            (live.ref, rel)
            for live in present
            if live.presence is Presence.PRESENT
            for rel in object_type(live.ref.object_type).relationships
            if rel.name not in live.links
        ]
        deleted, more = await asyncio.gather(self._read_recycle_bin(missing), self._read_links(left))
        for live in present:
            live.links.update(more.get(live.ref.key, {}))
        found.update(deleted)
        return [found.get(ref.key) or LiveObject(ref, Presence.ABSENT) for ref in refs]

    # --- objects ----------------------------------------------------------------------------------------

    async def _read_objects(
        self, filtered: Sequence[ObjectRef], one_by_one: Sequence[ObjectRef]
    ) -> dict[str, LiveObject]:
        """Directory objects by ``$filter=id in (...)``, 15 ids a query; the others one GET each."""
        found: dict[str, LiveObject] = {}
        queries = [
            (_filter_url(t, t.list_path, chunk, expand_manager=True), t, chunk)
            for t, chunk in _chunks_by_type(filtered)
        ]
        requests = [BatchRequest(str(n), "GET", url) for n, (url, _, _) in enumerate(queries)]
        owner: dict[str, ObjectRef] = {}
        for ref in one_by_one:
            for path in self._object_urls(ref):
                rid = str(len(requests))
                requests.append(BatchRequest(rid, "GET", path))
                owner[rid] = ref
        answers = await self._batch(requests)
        for (_, t, chunk), request, response in zip(queries, requests, answers, strict=False):
            self._raise_for(request, response)
            wanted = {r.object_id.lower(): r for r in chunk}
            for item in await self._all_items(response.body):
                hit = wanted.get(str(item.get(t.id_field)).lower())
                if hit is not None:
                    found[hit.key] = _present(hit, item, expanded=_has_manager(t))
        for request, response in zip(requests[len(queries) :], answers[len(queries) :], strict=True):
            ref = owner[request.id]
            if response.status == 404 or ref.key in found:
                continue
            self._raise_for(request, response)
            found[ref.key] = _present(ref, response.body, expanded="$expand=manager" in request.url)
        return found

    def _object_urls(self, ref: ObjectRef) -> list[str]:
        t = object_type(ref.object_type)
        if t.parent:
            parent = self._parents.get(ref.key)
            if parent:
                return [t.item_path(ref.object_id, parent)]
            principal = principal_of_assignment(ref.object_id)
            if principal is None:
                return []
            return [f"{base}/{principal}/appRoleAssignments/{ref.object_id}" for base in _PRINCIPAL_PATHS]
        url = t.item_path(ref.object_id) + _select(t)
        if any(r.name == "manager" for r in t.relationships):
            url += ("&" if "?" in url else "?") + "$expand=manager($select=id)"
        return [url]

    async def _read_recycle_bin(self, refs: Sequence[ObjectRef]) -> dict[str, LiveObject]:
        """Directory objects missing live, looked up in the recycle bin 15 ids a query."""
        queries = [
            (_filter_url(t, f"/directory/deletedItems/{t.deleted_items_cast}", chunk), t, chunk)
            for t, chunk in _chunks_by_type(refs)
        ]
        requests = [BatchRequest(str(n), "GET", url) for n, (url, _, _) in enumerate(queries)]
        found: dict[str, LiveObject] = {}
        for (_, t, chunk), request, response in zip(
            queries, requests, await self._batch(requests), strict=True
        ):
            self._raise_for(request, response)
            wanted = {r.object_id.lower(): r for r in chunk}
            for item in await self._all_items(response.body):
                ref = wanted.get(str(item.get(t.id_field)).lower())
                if ref is not None:
                    found[ref.key] = LiveObject(ref, Presence.DELETED, _plain(item))
        return found

    async def _read_listed(self, refs: Sequence[ObjectRef]) -> dict[str, LiveObject]:
        """Objects of small, slowly throttled collections from one list read (and one of the recycle bin)."""
        found: dict[str, LiveObject] = {}
        for type_name in sorted({r.object_type for r in refs}):
            t = object_type(type_name)
            wanted = {r.object_id: r for r in refs if r.object_type == type_name}
            async for item in self.graph.iter_items(t.list_path, page_size=t.page_size):
                ref = wanted.get(str(item.get(t.id_field)))
                if ref is not None:
                    found[ref.key] = LiveObject(ref, Presence.PRESENT, _plain(item))
            gone = [r for r in wanted.values() if r.key not in found]
            if gone and t.restore is RestoreMode.CA_DELETED_ITEMS and type_name in _CA_DELETED:
                # The Conditional Access recycle bin is beta only.
                url = f"{self.graph.config.endpoints().graph_url}/beta{_CA_DELETED[type_name]}"
                async for item in self.graph.iter_items(url):
                    ref = wanted.get(str(item.get(t.id_field)))
                    if ref is not None and ref.key not in found:
                        found[ref.key] = LiveObject(ref, Presence.DELETED, _plain(item))
        return found

    # --- relationships ----------------------------------------------------------------------------------

    async def _read_links(self, wanted: Sequence[tuple[ObjectRef, Relationship]]) -> dict[str, Links]:
        """The ids each relationship holds, by object key. Each ``$batch`` of first pages is handled as it
        comes back and the next pages of a long list are followed at once, in parallel: a big group's
        member pages are the longest chain of reads, and need not wait for the other batches."""
        out: dict[str, Links] = {}
        # Longest lists first (as last seen by this reader), so their page chains start in the first wave.
        pairs = sorted(wanted, key=lambda pair: -self._sizes.get((pair[0].key, pair[1].name), 0))
        chunks = [pairs[i : i + MAX_BATCH] for i in range(0, len(pairs), MAX_BATCH)]
        await all_or_cancel([self._read_link_chunk(chunk, out) for chunk in chunks])
        return out

    async def _read_link_chunk(
        self, wanted: Sequence[tuple[ObjectRef, Relationship]], out: dict[str, Links]
    ) -> None:
        requests: list[BatchRequest] = []
        for n, (ref, rel) in enumerate(wanted):
            url = rel.path.format(id=ref.object_id)
            url += "?$select=id" if rel.single else f"?$select=id&$top={rel.page_size}"
            requests.append(BatchRequest(str(n), "GET", url))
        rest: list[Awaitable[None]] = []
        for (ref, rel), request, response in zip(wanted, requests, await self._batch(requests), strict=True):
            links = out.setdefault(ref.key, {})
            if response.status == 404:
                links[rel.name] = None if rel.single else []
                continue
            self._raise_for(request, response)
            if rel.single:
                links[rel.name] = str(response.body.get("id")) if isinstance(response.body, dict) else None
                continue
            ids = links[rel.name] = [str(item["id"]) for item in _values(response.body)]
            next_link = response.body.get("@odata.nextLink") if isinstance(response.body, dict) else None
            if isinstance(next_link, str):
                rest.append(self._more_ids(ids, next_link))
        await all_or_cancel(rest)
        for ref, rel in wanted:
            found = out[ref.key].get(rel.name)
            if isinstance(found, list):
                self._sizes[(ref.key, rel.name)] = len(found)

    async def _more_ids(self, ids: list[str], next_link: str) -> None:
        async for page in self.graph.iter_pages(next_link):
            ids.extend(str(item["id"]) for item in page if isinstance(item, dict) and "id" in item)

    async def _all_items(self, page: Any) -> list[dict[str, Any]]:
        """The items of a list answer, following its ``@odata.nextLink`` when it has one."""
        items = _values(page)
        next_link = page.get("@odata.nextLink") if isinstance(page, dict) else None
        if isinstance(next_link, str):
            async for more in self.graph.iter_pages(next_link):
                items.extend(item for item in more if isinstance(item, dict) and "id" in item)
        return items

    # --- helpers the planner uses when they are there ---------------------------------------------------

    async def live_ids(self, type_name: str) -> set[str]:
        """Ids of every live object of a top-level type, read $select=id in pages of 999 (cheap)."""
        t = object_type(type_name)
        params = {"$select": t.id_field}
        return {
            str(item[t.id_field])
            async for item in self.graph.iter_items(t.list_path, params=params, page_size=t.page_size)
            if t.id_field in item
        }

    async def holders(self, type_name: str, prop: str, values: Iterable[str]) -> dict[str, list[str]]:
        """For each value, the ids of live objects of the type whose ``prop`` equals it (case-insensitive).

        Asked as ``$filter=prop in (...)`` with up to 15 values a query, batched: checking the names of
        1,000 recreated users costs 67 queries, not 1,000."""
        t = object_type(type_name)
        wanted = sorted(set(values))
        chunks = [wanted[i : i + _IN_VALUES] for i in range(0, len(wanted), _IN_VALUES)]
        requests = [
            BatchRequest(str(n), "GET", f"{t.list_path}?$filter={_in(prop, chunk)}&$select=id,{prop}")
            for n, chunk in enumerate(chunks)
        ]
        by_value: dict[str, list[str]] = {}
        for request, response in zip(requests, await self._batch(requests), strict=True):
            self._raise_for(request, response)
            for item in _values(response.body):
                value = item.get(prop)
                if isinstance(value, str):
                    by_value.setdefault(value.lower(), []).append(str(item["id"]))
        return {value: by_value.get(value.lower(), []) for value in wanted}

    async def _batch(self, requests: list[BatchRequest]) -> list[BatchResponse]:
        return await self.graph.batch(requests) if requests else []

    @staticmethod
    def _raise_for(request: BatchRequest, response: BatchResponse) -> None:
        if response.status >= 400:
            raise classify_response(
                request.method, request.url, response.status, response.body, response.headers
            )


def _filterable(ref: ObjectRef) -> bool:
    """Directory objects: their collections take ``$filter=id in (...)`` and they have a recycle bin. An id
    that is no GUID (no object has one) is read on its own: Graph refuses it inside a filter."""
    t = object_type(ref.object_type)
    directory = bool(t.deleted_items_cast) and not t.parent and not t.singleton and t.id_field == "id"
    return directory and _GUID.fullmatch(ref.object_id) is not None


def _has_manager(t: ObjectType) -> bool:
    return any(r.name == "manager" for r in t.relationships)


def _chunks_by_type(refs: Sequence[ObjectRef]) -> list[tuple[ObjectType, list[ObjectRef]]]:
    by_type: dict[str, list[ObjectRef]] = {}
    for ref in refs:
        by_type.setdefault(ref.object_type, []).append(ref)
    return [
        (object_type(name), group[i : i + _IN_VALUES])
        for name, group in by_type.items()
        for i in range(0, len(group), _IN_VALUES)
    ]


def _filter_url(t: ObjectType, path: str, refs: Sequence[ObjectRef], *, expand_manager: bool = False) -> str:
    """``path`` narrowed to the ids of ``refs``, with the same $select (and manager) as a single GET."""
    params = [f"$filter={_in('id', [r.object_id for r in refs])}"]
    if t.select:
        params.append(f"$select={','.join(t.select)}")
    if expand_manager and _has_manager(t):
        params.append("$expand=manager($select=id)")
    return f"{path}?{'&'.join(params)}"


def _present(ref: ObjectRef, raw: Any, *, expanded: bool) -> LiveObject:
    """A live object as read; an expanded manager moves from the body to the links."""
    body = _plain(raw)
    links: dict[str, list[str] | str | None] = {}
    if "manager" in body or expanded:
        manager = body.pop("manager", None)
        links["manager"] = str(manager["id"]) if isinstance(manager, dict) else None
    return LiveObject(ref, Presence.PRESENT, body, links)


def _in(prop: str, values: Sequence[str]) -> str:
    literals = ",".join("'" + value.replace("'", "''") + "'" for value in values)  # OData doubles quotes
    return quote(f"{prop} in ({literals})", safe="'(),")


def _values(page: Any) -> list[dict[str, Any]]:
    items = page.get("value") if isinstance(page, dict) else None
    return [i for i in items if isinstance(i, dict) and "id" in i] if isinstance(items, list) else []
