"""The live tenant through Microsoft Graph, read in ``$batch`` rounds of 20.

One round reads the objects; a second looks the missing ones up in the recycle bin; a third reads the
relationships restore relinks. A plan over 1,000 users therefore costs about 50 requests (a user's manager
rides on its GET as ``$expand``), not thousands.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from core.graph import BatchRequest, BatchResponse, GraphClient
from core.graph.classify import classify_response
from core.registry import ObjectType, RestoreMode, object_type
from core.restore.live import LiveObject, ObjectRef, Presence

_PRINCIPAL_PATHS = ("/users", "/groups", "/servicePrincipals")
_IN_VALUES = 15  # values in one ``$filter=... in (...)``: Graph's limit on directory object queries
_CA_DELETED = {
    "conditionalAccessPolicy": "/identity/conditionalAccess/deletedItems/policies",
    "namedLocation": "/identity/conditionalAccess/deletedItems/namedLocations",
}


def object_path(t: ObjectType, object_id: str, parent: str | None = None) -> str:
    """Where one object of ``t`` lives: ``/users/{id}``, a singleton's own path, a child under its parent."""
    if t.singleton:
        return t.list_path
    if t.parent:
        return f"{t.list_path.format(parent=parent)}/{object_id}"
    return f"{t.list_path}/{object_id}"


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

    def remember_parents(self, parents: Mapping[str, str]) -> None:
        """``"type/id" -> parent id`` for child objects, as the snapshot recorded them."""
        self._parents.update(parents)

    async def fetch(self, ref: ObjectRef) -> LiveObject:
        return (await self.fetch_many([ref]))[0]

    async def fetch_many(self, refs: Sequence[ObjectRef]) -> list[LiveObject]:
        # Conditional Access allows one request per second: read those collections whole, once.
        listed = [r for r in refs if object_type(r.object_type).throttle_class == "conditional_access"]
        found = await self._read_listed(listed)
        one_by_one = [r for r in refs if r.key not in {x.key for x in listed}]
        found.update(await self._read_objects(one_by_one))
        missing = [ref for ref in one_by_one if ref.key not in found]
        found.update(await self._read_recycle_bin(missing))
        present = [found[ref.key] for ref in refs if ref.key in found]
        await self._read_links([live for live in present if live.presence is Presence.PRESENT])
        return [found.get(ref.key) or LiveObject(ref, Presence.ABSENT) for ref in refs]

    # --- objects ----------------------------------------------------------------------------------------

    async def _read_objects(self, refs: Sequence[ObjectRef]) -> dict[str, LiveObject]:
        requests: list[BatchRequest] = []
        owner: dict[str, ObjectRef] = {}
        for ref in refs:
            for path in self._object_urls(ref):
                rid = str(len(requests))
                requests.append(BatchRequest(rid, "GET", path))
                owner[rid] = ref
        found: dict[str, LiveObject] = {}
        for request, response in zip(requests, await self._batch(requests), strict=True):
            ref = owner[request.id]
            if response.status == 404 or ref.key in found:
                continue
            self._raise_for(request, response)
            body = _plain(response.body)
            links: dict[str, list[str] | str | None] = {}
            if "manager" in body or "$expand=manager" in request.url:
                manager = body.pop("manager", None)
                links["manager"] = str(manager["id"]) if isinstance(manager, dict) else None
            found[ref.key] = LiveObject(ref, Presence.PRESENT, body, links)
        return found

    def _object_urls(self, ref: ObjectRef) -> list[str]:
        t = object_type(ref.object_type)
        if t.parent:
            parent = self._parents.get(ref.key)
            if parent:
                return [object_path(t, ref.object_id, parent)]
            principal = principal_of_assignment(ref.object_id)
            if principal is None:
                return []
            return [f"{base}/{principal}/appRoleAssignments/{ref.object_id}" for base in _PRINCIPAL_PATHS]
        url = object_path(t, ref.object_id) + _select(t)
        if any(r.name == "manager" for r in t.relationships):
            url += ("&" if "?" in url else "?") + "$expand=manager($select=id)"
        return [url]

    async def _read_recycle_bin(self, refs: Sequence[ObjectRef]) -> dict[str, LiveObject]:
        directory = [r for r in refs if object_type(r.object_type).deleted_items_cast]
        requests = [
            BatchRequest(
                str(n), "GET", f"/directory/deletedItems/{r.object_id}{_select(object_type(r.object_type))}"
            )
            for n, r in enumerate(directory)
        ]
        found: dict[str, LiveObject] = {}
        for ref, request, response in zip(directory, requests, await self._batch(requests), strict=True):
            if response.status == 404:
                continue
            self._raise_for(request, response)
            found[ref.key] = LiveObject(ref, Presence.DELETED, _plain(response.body))
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

    async def _read_links(self, present: Sequence[LiveObject]) -> None:
        requests: list[BatchRequest] = []
        targets: dict[str, tuple[LiveObject, str]] = {}
        for live in present:
            for rel in object_type(live.ref.object_type).relationships:
                if rel.single and rel.name in live.links:
                    continue  # read with the object ($expand)
                rid = str(len(requests))
                url = rel.path.format(id=live.ref.object_id)
                url += "?$select=id" if rel.single else f"?$select=id&$top={rel.page_size}"
                requests.append(BatchRequest(rid, "GET", url))
                targets[rid] = (live, rel.name)
        for request, response in zip(requests, await self._batch(requests), strict=True):
            live, name = targets[request.id]
            single = any(r.single for r in object_type(live.ref.object_type).relationships if r.name == name)
            if single:
                if response.status == 404:
                    live.links[name] = None
                    continue
                self._raise_for(request, response)
                live.links[name] = str(response.body.get("id")) if isinstance(response.body, dict) else None
                continue
            if response.status == 404:
                live.links[name] = []
                continue
            self._raise_for(request, response)
            live.links[name] = await self._all_ids(response.body)

    async def _all_ids(self, page: Any) -> list[str]:
        ids = [str(item["id"]) for item in _values(page)]
        next_link = page.get("@odata.nextLink") if isinstance(page, dict) else None
        if isinstance(next_link, str):
            async for more in self.graph.iter_pages(next_link):
                ids.extend(str(item["id"]) for item in more if isinstance(item, dict) and "id" in item)
        return ids

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


def _in(prop: str, values: Sequence[str]) -> str:
    literals = ",".join("'" + value.replace("'", "''") + "'" for value in values)  # OData doubles quotes
    return quote(f"{prop} in ({literals})", safe="'(),")


def _values(page: Any) -> list[dict[str, Any]]:
    items = page.get("value") if isinstance(page, dict) else None
    return [i for i in items if isinstance(i, dict) and "id" in i] if isinstance(items, list) else []
