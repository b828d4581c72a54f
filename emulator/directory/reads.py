"""GET handlers: collections, single objects, relationship lists and deleted items, with keyset paging."""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

from sortedcontainers import SortedList

from emulator.protocol import GraphResponse

from .context import Ctx
from .errors import bad_request, not_found
from .filters import guid_lookups
from .lifecycle import deleted_view
from .query import (
    ListQuery,
    Resource,
    Row,
    count_rows,
    options_of,
    parse_list_query,
    take_page,
    value_sorted_rows,
)
from .types import TYPES, Obj

if TYPE_CHECKING:
    from .tenant import Tenant

EXPAND_CAP = 20  # Graph returns at most 20 expanded directoryObjects and no nextLink
EXPANDABLE: dict[str, frozenset[str]] = {
    "users": frozenset({"manager"}),
    "groups": frozenset({"members", "owners"}),
    "applications": frozenset({"owners"}),
    "servicePrincipals": frozenset({"owners"}),
    "administrativeUnits": frozenset({"members"}),
    "roleAssignments": frozenset({"principal", "roleDefinition"}),
    "roleEligibilitySchedules": frozenset({"principal", "roleDefinition"}),
}
_LINKED_TYPES = ("users", "groups", "servicePrincipals", "applications", "administrativeUnits")
DIRECTORY_OBJECT = "microsoft.graph.directoryObject"


def resource_for(t: Tenant, collection: str, **overrides: Any) -> Resource:
    spec = TYPES[collection]
    known = t.store.schema[collection]
    settings: dict[str, Any] = {
        "type_name": spec.odata_type,
        "known": lambda p: p in known or p.startswith("extension_"),
        "max_top": spec.max_top,
        "default_top": spec.default_top,
        "time_order": spec.time_order,
        "expandable": EXPANDABLE.get(collection, frozenset()),
        "skip_allowed": not spec.directory_object,
    }
    settings.update(overrides)
    return Resource(**settings)


def directory_resource(t: Tenant, **overrides: Any) -> Resource:
    """Mixed-type lists (members, memberOf, deletedItems...) accept any directory object property."""
    schemas = [t.store.schema[c] for c in _LINKED_TYPES]
    settings: dict[str, Any] = {
        "type_name": DIRECTORY_OBJECT,
        "known": lambda p: p.startswith("extension_") or any(p in s for s in schemas),
    }
    settings.update(overrides)
    return Resource(**settings)


def project(obj: Obj, collection: str, select: list[str] | None) -> Obj:
    """Graph's default projection, or exactly the $select-ed properties (nulls included)."""
    if select is None:
        default = TYPES[collection].default_select
        out = {p: obj.get(p) for p in default} if default else dict(obj)
    else:
        out = {p: obj.get(p) for p in select}
    if "@odata.type" in obj and "@odata.type" not in out:
        out = {"@odata.type": obj["@odata.type"], **out}
    return out


def typed(obj: Obj, collection: str, select: list[str] | None) -> Obj:
    """A projected item of a mixed-type list, led by its @odata.type."""
    out = project(obj, collection, select)
    return {"@odata.type": out.pop("@odata.type", TYPES[collection].type_annotation), **out}


def after(seq: Sequence[Any], cursor: Any, descending: bool = False) -> Iterator[Any]:
    """Keys of a sorted sequence strictly after (or, descending, before) cursor."""
    if isinstance(seq, SortedList):
        if cursor is None:
            return reversed(seq) if descending else iter(seq)
        if descending:
            return iter(seq.irange(maximum=cursor, inclusive=(True, False), reverse=True))
        return iter(seq.irange(minimum=cursor, inclusive=(False, True)))
    if descending:
        end = len(seq) if cursor is None else bisect.bisect_left(seq, cursor)
        return (seq[i] for i in range(end - 1, -1, -1))
    start = 0 if cursor is None else bisect.bisect_right(seq, cursor)
    return islice(seq, start, None)


def _decode_cursor(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def start_query(t: Tenant, ctx: Ctx, resource: Resource) -> tuple[ListQuery, Any]:
    """The query and resume cursor: from the request, or replayed from a signed $skiptoken."""
    opts = options_of(ctx.request.query)
    if "skiptoken" in opts:
        payload = t.signer.verify(opts["skiptoken"])
        if payload is None or payload.get("k") != "page" or payload.get("p") != ctx.request.path:
            raise bad_request(
                "Invalid $skiptoken: the paging token is malformed or was issued for another query."
            )
        raw = {str(k): str(v) for k, v in payload.get("o", {}).items()}
        return parse_list_query(raw, resource, bool(payload.get("ev"))), _decode_cursor(payload.get("c"))
    return parse_list_query(opts, resource, ctx.eventual), None


def page_response(
    t: Tenant,
    ctx: Ctx,
    query: ListQuery,
    cursor: Any,
    rows: Callable[[Any], Iterator[Row]],
    render: Callable[[Row], Obj],
    context: str,
    indexed_order: bool = False,
) -> GraphResponse:
    """One page of a list: O(page) for unfiltered queries, whatever the collection size.

    indexed_order: rows() already yields in $orderby order (time-ordered logs); otherwise an $orderby
    re-sorts the matching rows.
    """
    if query.order_prop is not None and not indexed_order:
        source = value_sorted_rows(rows(None), query.order_prop, query.descending, cursor)
    else:
        source = rows(cursor)
    page, next_key = take_page(source, query.predicate, query.top, query.skip if cursor is None else 0)
    body: Obj = {"@odata.context": context}
    if query.count and cursor is None:
        body["@odata.count"] = count_rows(rows(None), query.predicate)
    body["value"] = [render(row) for row in page]
    if next_key is not None:
        payload = {"k": "page", "p": ctx.request.path, "o": query.raw, "ev": query.eventual, "c": next_key}
        body["@odata.nextLink"] = f"{ctx.base}{ctx.request.path}?$skiptoken={t.signer.sign(payload)}"
    return GraphResponse(200, body, items=len(page))


def list_collection(t: Tenant, ctx: Ctx, collection: str, type_cast: str | None = None) -> GraphResponse:
    spec = TYPES[collection]
    query, cursor = start_query(t, ctx, resource_for(t, collection))
    coll = t.store.coll(collection)
    default_type = spec.type_annotation
    wanted = guid_lookups(query.raw.get("filter")) if spec.key == "id" else None
    # A filter naming ids reads those objects (the predicate still decides), not the whole collection.
    keys = coll.order if wanted is None else sorted(coll.sort_key(i) for i in wanted if i in coll.objs)

    def rows(cursor_key: Any) -> Iterator[Row]:
        for key in after(keys, cursor_key, query.descending if spec.time_order else False):
            obj = coll.objs[coll.id_of_key(key)]
            odata_type = obj.get("@odata.type", default_type)
            if type_cast is None or odata_type == type_cast:
                yield key, obj, odata_type

    def render(row: Row) -> Obj:
        return expand(t, ctx, collection, row[1], project(row[1], collection, query.select), query)

    context = ctx.context_url(spec.entity_set, query.select)
    return page_response(t, ctx, query, cursor, rows, render, context, spec.time_order is not None)


def count_collection(
    t: Tenant, ctx: Ctx, rows: Callable[[Any], Iterator[Row]], resource: Resource
) -> GraphResponse:
    if not ctx.eventual:
        raise bad_request("$count is not currently supported.")
    query = parse_list_query(options_of(ctx.request.query), resource, True)
    total = count_rows(rows(None), query.predicate)
    return GraphResponse(200, total, {"Content-Type": "text/plain"}, items=1)


def collection_rows(t: Tenant, collection: str) -> Callable[[Any], Iterator[Row]]:
    coll = t.store.coll(collection)
    default_type = TYPES[collection].type_annotation

    def rows(cursor_key: Any) -> Iterator[Row]:
        for key in after(coll.order, cursor_key):
            obj = coll.objs[coll.id_of_key(key)]
            yield key, obj, obj.get("@odata.type", default_type)

    return rows


def get_object(t: Tenant, ctx: Ctx, collection: str, obj: Obj) -> GraphResponse:
    spec = TYPES[collection]
    resource = resource_for(t, collection)
    query = parse_list_query(options_of(ctx.request.query), resource, ctx.eventual)
    body = {"@odata.context": ctx.context_url(spec.entity_set, query.select, entity=True)}
    body.update(expand(t, ctx, collection, obj, project(obj, collection, query.select), query))
    return GraphResponse(200, body, items=1)


def expand(t: Tenant, ctx: Ctx, collection: str, obj: Obj, out: Obj, query: ListQuery) -> Obj:
    if not query.expand:
        return out
    store = t.store
    obj_id = str(obj.get("id"))
    for name, select in query.expand:
        if name == "manager":
            managers = store.relations["manager"].targets(obj_id)
            if managers:
                found = store.find(managers[0])
                if found is not None:
                    out["manager"] = typed(found[1], found[0], select)
        elif name in ("members", "owners"):
            items = []
            for target in islice(store.relations[name].targets(obj_id), EXPAND_CAP):
                found = store.find(target)
                if found is not None:
                    items.append(typed(found[1], found[0], select))
            out[name] = items
        elif name == "principal":
            found = store.find(str(obj.get("principalId")))
            out["principal"] = typed(found[1], found[0], select) if found else None
        elif name == "roleDefinition":
            role = store.get("roleDefinitions", str(obj.get("roleDefinitionId")))
            out["roleDefinition"] = project(role, "roleDefinitions", select) if role else None
    return out


def list_links(
    t: Tenant,
    ctx: Ctx,
    ids: Sequence[str],
    entity_set: str,
    allowed: Callable[[str], bool] | None = None,
    count_only: bool = False,
) -> GraphResponse:
    """A relationship list (members, owners, memberOf...) as typed directory objects, paged by id."""
    store = t.store

    def rows(cursor_key: Any) -> Iterator[Row]:
        for obj_id in after(ids, cursor_key):
            found = store.find(obj_id)
            if found is not None and (allowed is None or allowed(found[0])):
                yield obj_id, found[1], TYPES[found[0]].type_annotation

    if count_only:
        return count_collection(t, ctx, rows, directory_resource(t))
    query, cursor = start_query(t, ctx, directory_resource(t))

    def render(row: Row) -> Obj:
        return typed(row[1], store.kind[str(row[1]["id"])], query.select)

    return page_response(t, ctx, query, cursor, rows, render, ctx.context_url(entity_set, query.select))


def list_assignments(t: Tenant, ctx: Ctx, ids: Sequence[str]) -> GraphResponse:
    coll = t.store.coll("appRoleAssignments")
    query, cursor = start_query(t, ctx, resource_for(t, "appRoleAssignments"))

    def rows(cursor_key: Any) -> Iterator[Row]:
        for obj_id in after(ids, cursor_key):
            obj = coll.objs.get(obj_id)
            if obj is not None:
                yield obj_id, obj, TYPES["appRoleAssignments"].type_annotation

    def render(row: Row) -> Obj:
        return project(row[1], "appRoleAssignments", query.select)

    return page_response(
        t, ctx, query, cursor, rows, render, ctx.context_url("appRoleAssignments", query.select)
    )


def list_filtered(
    t: Tenant, ctx: Ctx, collection: str, keep: Callable[[Obj], bool], entity_set: str
) -> GraphResponse:
    """A small collection narrowed by a relationship (scopedRoleMembers of one administrative unit)."""
    coll = t.store.coll(collection)
    query, cursor = start_query(t, ctx, resource_for(t, collection))

    def rows(cursor_key: Any) -> Iterator[Row]:
        for key in after(coll.order, cursor_key):
            obj = coll.objs[key]
            if keep(obj):
                yield key, obj, TYPES[collection].type_annotation

    def render(row: Row) -> Obj:
        return project(row[1], collection, query.select)

    return page_response(t, ctx, query, cursor, rows, render, ctx.context_url(entity_set, query.select))


def deleted_item(view: Obj, collection: str, select: list[str] | None) -> Obj:
    """A deleted object's projection always shows when it was deleted."""
    out = typed(view, collection, select)
    if select is None:
        out["deletedDateTime"] = view.get("deletedDateTime")
    return out


def list_deleted(t: Tenant, ctx: Ctx, collections: tuple[str, ...], entity_set: str) -> GraphResponse:
    store = t.store
    orderable = frozenset({"deletedDateTime", "displayName"})
    if len(collections) == 1:
        resource = resource_for(t, collections[0], skip_allowed=False)
    else:
        resource = directory_resource(t)
    resource = dataclasses.replace(resource, expandable=frozenset(), orderable=orderable)
    opts = options_of(ctx.request.query)
    if opts.get("orderby") and "skiptoken" not in opts:
        prop = opts["orderby"].split()[0]
        if prop not in orderable:
            raise bad_request(f"Sorting by '{prop}' is not supported on deleted items.")
        if prop == "deletedDateTime" and not (ctx.eventual and opts.get("count", "").lower() == "true"):
            raise bad_request(
                "Sorting by deletedDateTime requires 'ConsistencyLevel: eventual' and $count=true."
            )
    query, cursor = start_query(t, ctx, resource)
    ids: list[str] = []
    wanted = guid_lookups(query.raw.get("filter"))
    for collection in collections:
        in_bin = store.deleted_order.get(collection, ())
        ids.extend(in_bin if wanted is None else (i for i in wanted if i in in_bin))
    if len(collections) > 1 or wanted is not None:
        ids.sort()

    def rows(cursor_key: Any) -> Iterator[Row]:
        for obj_id in after(ids, cursor_key):
            entry = store.deleted.get(obj_id)
            if entry is not None:
                view = deleted_view(entry)
                yield obj_id, view, view.get("@odata.type", TYPES[entry.collection].type_annotation)

    def render(row: Row) -> Obj:
        return deleted_item(row[1], store.deleted[str(row[1]["id"])].collection, query.select)

    return page_response(t, ctx, query, cursor, rows, render, ctx.context_url(entity_set, query.select))


def get_deleted(t: Tenant, ctx: Ctx, obj_id: str, collections: tuple[str, ...]) -> GraphResponse:
    entry = t.store.deleted.get(obj_id)
    if entry is None or entry.collection not in collections:
        raise not_found(obj_id)
    query = parse_list_query(options_of(ctx.request.query), directory_resource(t), ctx.eventual)
    body: Obj = {"@odata.context": ctx.context_url("directory/deletedItems", query.select, entity=True)}
    body.update(deleted_item(deleted_view(entry), entry.collection, query.select))
    return GraphResponse(200, body, items=1)


def list_deleted_count(t: Tenant, ctx: Ctx, collection: str) -> GraphResponse:
    store = t.store
    ids = store.deleted_order.get(collection, SortedList())

    def rows(cursor_key: Any) -> Iterator[Row]:
        for obj_id in after(ids, cursor_key):
            yield obj_id, deleted_view(store.deleted[obj_id]), TYPES[collection].type_annotation

    return count_collection(t, ctx, rows, resource_for(t, collection))
