"""List query options ($select, $filter, $top, $count, $orderby, $search, $expand) and keyset paging."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import bad_request, unsupported
from .filters import FilterContext, Predicate, compile_filter
from .types import Obj

# (sort key, object, "@odata.type" annotation)
Row = tuple[Any, Obj, str]
RowSource = Callable[[Any], Iterator[Row]]  # rows after the given cursor key (None: from the start)

_KNOWN_OPTIONS = frozenset(
    {
        "select",
        "filter",
        "top",
        "skiptoken",
        "count",
        "orderby",
        "expand",
        "search",
        "skip",
        "deltatoken",
        "format",
    }
)
_SEARCH_CLAUSE = re.compile(r'"([\w.]+):([^"]*)"')


def options_of(query: Mapping[str, str]) -> dict[str, str]:
    """System query options keyed without their '$', lower-cased (Graph treats them case-insensitively)."""
    out: dict[str, str] = {}
    for key, value in query.items():
        if not key.startswith("$"):
            continue
        name = key[1:].lower()
        if name not in _KNOWN_OPTIONS:
            raise bad_request(f"Query option '{key}' is not allowed. Make sure that it is supported.")
        out[name] = value
    return out


@dataclass(frozen=True)
class Resource:
    """What the query options are validated against."""

    type_name: str  # "microsoft.graph.user"
    known: Callable[[str], bool]
    max_top: int = 999
    default_top: int = 100
    time_order: tuple[str, bool] | None = None  # (property, newest first by default)
    expandable: frozenset[str] = frozenset()
    skip_allowed: bool = False
    orderable: frozenset[str] = frozenset(
        {"displayName", "userPrincipalName", "createdDateTime", "mailNickname"}
    )


@dataclass
class ListQuery:
    raw: dict[str, str]  # the options as sent, replayed from a skiptoken on later pages
    eventual: bool
    select: list[str] | None = None
    predicate: Predicate | None = None
    top: int = 100
    count: bool = False
    order_prop: str | None = None
    descending: bool = False
    expand: list[tuple[str, list[str] | None]] = field(default_factory=list)
    skip: int = 0


def parse_select(text: str, resource: Resource) -> list[str]:
    props = [p.strip() for p in text.split(",") if p.strip()]
    for prop in props:
        if not resource.known(prop):
            raise bad_request(f"Could not find a property named '{prop}' on type '{resource.type_name}'.")
    return props


def parse_top(text: str, max_top: int) -> int:
    try:
        top = int(text)
    except ValueError:
        raise bad_request(
            f"Invalid page size specified: '{text}'. Must be between 1 and {max_top} inclusive."
        ) from None
    if not 1 <= top <= max_top:
        raise bad_request(
            f"Invalid page size specified: '{text}'. Must be between 1 and {max_top} inclusive."
        )
    return top


def _search_predicate(text: str, eventual: bool, resource: Resource) -> Predicate:
    if not eventual:
        raise unsupported(
            "Request with $search query parameter only works through MSGraph with a special request "
            "header: 'ConsistencyLevel: eventual'"
        )
    clauses = _SEARCH_CLAUSE.findall(text)
    if not clauses:
        raise bad_request('Invalid $search query: expected "property:value" clauses.')
    for prop, _ in clauses:
        if not resource.known(prop):
            raise bad_request(f"Could not find a property named '{prop}' on type '{resource.type_name}'.")
    combine = any if " OR " in text else all
    lowered = [(prop, term.lower()) for prop, term in clauses]

    def match(obj: Obj, _type: str) -> bool:
        return combine(term in str(obj.get(prop) or "").lower() for prop, term in lowered)

    return match


def _parse_expand(text: str, resource: Resource) -> list[tuple[str, list[str] | None]]:
    out: list[tuple[str, list[str] | None]] = []
    for part in re.split(r",(?![^(]*\))", text):
        part = part.strip()
        match = re.fullmatch(r"([\w.]+)(?:\(\$select=([^)]*)\))?", part)
        if match is None or match.group(1) not in resource.expandable:
            raise bad_request(
                f"Parsing OData Select and Expand failed: Could not find a property named '{part}'."
            )
        select = [p.strip() for p in match.group(2).split(",")] if match.group(2) else None
        out.append((match.group(1), select))
    return out


def parse_list_query(raw: dict[str, str], resource: Resource, eventual: bool) -> ListQuery:
    query = ListQuery(raw=raw, eventual=eventual, top=resource.default_top)
    if "select" in raw:
        query.select = parse_select(raw["select"], resource)
    predicates: list[Predicate] = []
    if raw.get("filter"):
        ctx = FilterContext(known=resource.known, eventual=eventual, type_name=resource.type_name)
        predicates.append(compile_filter(raw["filter"], ctx))
    if raw.get("search"):
        predicates.append(_search_predicate(raw["search"], eventual, resource))
    if len(predicates) == 1:
        query.predicate = predicates[0]
    elif predicates:
        first, second = predicates
        query.predicate = lambda o, t: first(o, t) and second(o, t)
    if "top" in raw:
        query.top = parse_top(raw["top"], resource.max_top)
    query.count = eventual and raw.get("count", "").lower() == "true"
    if resource.time_order:
        query.order_prop, query.descending = resource.time_order
    if raw.get("orderby"):
        _parse_orderby(raw["orderby"], resource, query)
    if raw.get("expand"):
        query.expand = _parse_expand(raw["expand"], resource)
    if "skip" in raw:
        if not resource.skip_allowed:
            raise bad_request("'$skip' is not supported by the service.")
        try:
            query.skip = max(0, int(raw["skip"]))
        except ValueError:
            raise bad_request(f"Invalid value '{raw['skip']}' for $skip.") from None
    return query


def _parse_orderby(text: str, resource: Resource, query: ListQuery) -> None:
    parts = text.split()
    if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
        raise bad_request(f"Invalid $orderby expression '{text}'.")
    prop = parts[0]
    descending = len(parts) == 2 and parts[1].lower() == "desc"
    if resource.time_order:
        if prop != resource.time_order[0]:
            raise unsupported(f"Sorting by '{prop}' is not supported; use {resource.time_order[0]}.")
    elif prop not in resource.orderable:
        raise unsupported(f"Sorting by '{prop}' is not supported.")
    elif not resource.known(prop):
        raise bad_request(f"Could not find a property named '{prop}' on type '{resource.type_name}'.")
    query.order_prop, query.descending = prop, descending


def take_page(
    rows: Iterator[Row], predicate: Predicate | None, top: int, skip: int = 0
) -> tuple[list[Row], Any]:
    """Up to top matching rows and the cursor for the next page (None when nothing matches after them)."""
    page: list[Row] = []
    for row in rows:
        if predicate is not None and not predicate(row[1], row[2]):
            continue
        if skip:
            skip -= 1
            continue
        if len(page) == top:
            return page, page[-1][0]
        page.append(row)
    return page, None


def count_rows(rows: Iterator[Row], predicate: Predicate | None) -> int:
    if predicate is None:
        return sum(1 for _ in rows)
    return sum(1 for row in rows if predicate(row[1], row[2]))


def value_sorted_rows(rows: Iterator[Row], prop: str, descending: bool, after: Any) -> Iterator[Row]:
    """Rows re-keyed by (value, id) for $orderby on a property the store doesn't index: O(n log n) a page."""

    def sort_value(obj: Obj) -> str:
        value = obj.get(prop)
        return value.lower() if isinstance(value, str) else ""

    keyed = sorted(
        (((sort_value(obj), str(obj.get("id") or key)), obj, typ) for key, obj, typ in rows),
        key=lambda row: row[0],
        reverse=descending,
    )
    if after is not None:
        cursor = tuple(after)
        if descending:
            keyed = [row for row in keyed if row[0] < cursor]
        else:
            keyed = keyed[bisect.bisect_right([row[0] for row in keyed], cursor) :]
    return iter(keyed)
