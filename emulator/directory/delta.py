"""Delta query: initial enumeration, incremental rounds from the change log, paging and signed tokens."""

from __future__ import annotations

import bisect
import contextlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Protocol

from sortedcontainers import SortedList

from emulator.protocol import GraphRequest, GraphResponse

from .changelog import GONE, LINK, NEW, SOFT_DELETED, UPDATED
from .errors import GraphFault, bad_request, unsupported
from .filters import id_equalities
from .query import options_of
from .relations import ids_after
from .store import Store
from .tokens import TokenSigner
from .types import TYPES, Obj

MAX_FILTER_IDS = 50
MAX_PAGE = 999
_CACHE_ROUNDS = 16


class DeltaHost(Protocol):
    store: Store
    signer: TokenSigner
    epoch: int

    @property
    def delta_settings(self) -> tuple[float, int, int, float]: ...  # (ttl_s, page_size, member_chunk, now)


@dataclass(frozen=True)
class Selection:
    collection: str
    props: tuple[str, ...] | None  # None: every property
    rels: tuple[str, ...]
    ids: tuple[str, ...] | None

    def as_json(self) -> dict[str, Any]:
        return {"c": self.collection, "s": self.props, "r": self.rels, "f": self.ids}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Selection:
        props = data.get("s")
        ids = data.get("f")
        return cls(
            str(data["c"]),
            tuple(props) if props is not None else None,
            tuple(data.get("r") or ()),
            tuple(ids) if ids is not None else None,
        )


@dataclass
class _Accumulated:
    new: bool = False
    status: str = ""
    props: set[str] = field(default_factory=set)
    links: dict[tuple[str, str], tuple[str, bool]] = field(default_factory=dict)


def _link_item(target: str, target_type: str, added: bool = True) -> Obj:
    item: Obj = {"@odata.type": target_type, "id": target}
    if not added:
        item["@removed"] = {"reason": "deleted"}
    return item


def _prefer(headers: Mapping[str, str]) -> tuple[bool, int | None]:
    minimal, size = False, None
    for part in headers.get("prefer", "").split(","):
        name, _, value = part.strip().partition("=")
        if name.lower() == "return" and value.strip().lower() == "minimal":
            minimal = True
        elif name.lower() == "odata.maxpagesize":
            with contextlib.suppress(ValueError):
                size = max(1, min(MAX_PAGE, int(value)))
    return minimal, size


class DeltaEngine:
    def __init__(self, host: DeltaHost) -> None:
        self.host = host
        self._rounds: OrderedDict[tuple[Any, ...], list[tuple[Any, ...]]] = OrderedDict()

    # ----- entry point

    def handle(self, request: GraphRequest, collection: str, known: set[str]) -> GraphResponse:
        spec = TYPES[collection]
        url = f"{request.base_url.rstrip('/')}/{request.version}/{spec.entity_set}/delta"
        ttl, default_size, _, now = self.host.delta_settings
        minimal, size = _prefer(request.headers)
        size = size or max(1, min(MAX_PAGE, default_size))
        opts = options_of(request.query)
        for option in ("top", "orderby", "expand", "search", "count", "skip"):
            if option in opts:
                raise bad_request(f"The query option '${option}' is not supported with delta queries.")
        if "skiptoken" in opts:
            payload = self._verify(opts["skiptoken"], "ds", collection, url, ttl, now)
            selection = Selection.from_json(payload["sel"])
            if payload.get("m") == "inc":
                return self._incremental(selection, payload, size, minimal, url, request)
            return self._initial(selection, payload, size, url, request)
        if "deltatoken" in opts:
            token = opts["deltatoken"]
            if token.lower() == "latest":
                selection = self._parse_selection(collection, opts, known)
                return self._page(request, url, selection, [], None, self.host.store.changes.seq, minimal)
            payload = self._verify(token, "dl", collection, url, ttl, now)
            selection = Selection.from_json(payload["sel"])
            start = {"fr": payload["q"], "to": self.host.store.changes.seq, "o": 0}
            return self._incremental(selection, start, size, minimal, url, request)
        selection = self._parse_selection(collection, opts, known)
        return self._initial(selection, {"q": self.host.store.changes.seq, "cur": {}}, size, url, request)

    def _parse_selection(self, collection: str, opts: Mapping[str, str], known: set[str]) -> Selection:
        spec = TYPES[collection]
        props: tuple[str, ...] | None = spec.default_select
        rels: tuple[str, ...] = spec.delta_default_relations
        if "select" in opts:
            chosen = [p.strip() for p in opts["select"].split(",") if p.strip()]
            for prop in chosen:
                if (
                    prop not in spec.delta_relations
                    and prop not in known
                    and not prop.startswith("extension_")
                ):
                    raise bad_request(
                        f"Could not find a property named '{prop}' on type '{spec.odata_type}'."
                    )
            rels = tuple(p for p in chosen if p in spec.delta_relations)
            props = tuple(p for p in chosen if p not in spec.delta_relations)
        ids: tuple[str, ...] | None = None
        if opts.get("filter"):
            found = id_equalities(opts["filter"])
            if found is None:
                raise unsupported("Delta queries only support $filter with 'id eq' clauses joined by 'or'.")
            if len(found) > MAX_FILTER_IDS:
                raise bad_request(f"Too many ids in $filter: at most {MAX_FILTER_IDS} are allowed.")
            ids = tuple(sorted(set(found)))
        return Selection(collection, props, rels, ids)

    def _verify(
        self, token: str, kind: str, collection: str, url: str, ttl: float, now: float
    ) -> dict[str, Any]:
        payload = self.host.signer.verify(token)
        valid = (
            payload is not None
            and payload.get("k") == kind
            and payload.get("sel", {}).get("c") == collection
            and payload.get("e") == self.host.epoch
            and now - float(payload.get("t", 0)) <= ttl
            and int(payload.get("q", payload.get("to", 0))) <= self.host.store.changes.seq
        )
        if not valid:
            raise GraphFault(
                410,
                "syncStateNotFound",
                "The sync state generation is not found or has expired. Start a new sync with a delta query "
                "without a token.",
                headers={"Location": url},
            )
        assert payload is not None
        return payload

    # ----- paging and tokens

    def _token(self, kind: str, selection: Selection, **extra: Any) -> str:
        payload = {
            "k": kind,
            "sel": selection.as_json(),
            "e": self.host.epoch,
            "t": self.host.delta_settings[3],
        }
        payload.update(extra)
        return self.host.signer.sign(payload)

    def _page(
        self,
        request: GraphRequest,
        url: str,
        selection: Selection,
        entries: list[Obj],
        next_state: dict[str, Any] | None,
        round_seq: int,
        minimal: bool,
    ) -> GraphResponse:
        spec = TYPES[selection.collection]
        body: Obj = {
            "@odata.context": f"{request.base_url.rstrip('/')}/{request.version}/$metadata#{spec.entity_set}",
            "value": entries,
        }
        if next_state is not None:
            body["@odata.nextLink"] = f"{url}?$skiptoken={self._token('ds', selection, **next_state)}"
        else:
            body["@odata.deltaLink"] = f"{url}?$deltatoken={self._token('dl', selection, q=round_seq)}"
        headers = {"Preference-Applied": "return=minimal"} if minimal else {}
        return GraphResponse(200, body, headers, items=len(entries))

    # ----- rendering

    def _project(self, obj: Obj, props: tuple[str, ...] | None) -> Obj:
        if props is None:
            return dict(obj)
        out: Obj = {"id": obj.get("id")}
        for prop in props:
            out[prop] = obj.get(prop)
        return out

    def _chunk(self) -> int:
        return max(1, self.host.delta_settings[2])

    def _current_links(self, rel: str, obj_id: str) -> list[Obj]:
        store = self.host.store
        return [_link_item(t, store.type_of(t)) for t in store.relations[rel].targets(obj_id)]

    def _full(self, obj: Obj, selection: Selection) -> Obj:
        """An object's full representation with its first member chunk."""
        store = self.host.store
        entry = self._project(obj, selection.props)
        obj_id = str(obj.get("id"))
        for rel in selection.rels:
            targets = store.relations[rel].targets(obj_id)
            if rel == "members":
                targets = list(islice(targets, self._chunk()))
            if targets:
                entry[f"{rel}@delta"] = [_link_item(t, store.type_of(t)) for t in targets]
        return entry

    # ----- initial round: every live object, big groups' members in later repeated entries

    def _next_id(self, selection: Selection, after: str | None) -> str | None:
        objs = self.host.store.coll(selection.collection).objs
        if selection.ids is not None:
            start = 0 if after is None else bisect.bisect_right(selection.ids, after)
            return next((i for i in selection.ids[start:] if i in objs), None)
        order: SortedList = self.host.store.coll(selection.collection).order
        rows = order.irange(minimum=after, inclusive=(False, True)) if after is not None else iter(order)
        return next(rows, None)

    def _initial(
        self, selection: Selection, state: dict[str, Any], size: int, url: str, request: GraphRequest
    ) -> GraphResponse:
        store = self.host.store
        chunk = self._chunk()
        members = store.relations["members"]
        chunked = "members" in selection.rels
        cursor = dict(state.get("cur") or {})
        last: str | None = cursor.get("l")
        pending: str | None = cursor.get("pg")
        pending_after: str | None = cursor.get("pa")
        gap = int(cursor.get("ps", 0))
        out: list[Obj] = []
        while len(out) < size:
            nxt = self._next_id(selection, last)
            big = nxt is not None and chunked and len(members.targets(nxt)) > chunk
            if pending is not None and (gap <= 0 or nxt is None or big):
                rest = ids_after(members.targets(pending), pending_after)
                items = list(islice(rest, chunk + 1))
                if items[:chunk]:
                    out.append(
                        {
                            "id": pending,
                            "members@delta": [_link_item(t, store.type_of(t)) for t in items[:chunk]],
                        }
                    )
                if len(items) > chunk:
                    pending_after, gap = items[chunk - 1], 1
                else:
                    pending = pending_after = None
                continue
            if nxt is None:
                break
            out.append(self._full(store.coll(selection.collection).objs[nxt], selection))
            last = nxt
            if pending is not None:
                gap -= 1
            elif big:
                pending, pending_after, gap = nxt, members.targets(nxt)[chunk - 1], 1
        more = pending is not None or self._next_id(selection, last) is not None
        next_state = None
        if more:
            next_state = {"q": state["q"], "cur": {"l": last, "pg": pending, "pa": pending_after, "ps": gap}}
        return self._page(request, url, selection, out, next_state, int(state["q"]), False)

    # ----- incremental rounds: coalesced changes since the token's sequence number

    def _incremental(
        self,
        selection: Selection,
        state: dict[str, Any],
        size: int,
        minimal: bool,
        url: str,
        request: GraphRequest,
    ) -> GraphResponse:
        frm, to, offset = int(state["fr"]), int(state["to"]), int(state["o"])
        entries = self._round(selection, frm, to)
        window = entries[offset : offset + size]
        rendered = [e for e in (self._render(spec, selection, minimal) for spec in window) if e is not None]
        next_state = None
        if offset + size < len(entries):
            next_state = {"m": "inc", "fr": frm, "to": to, "o": offset + size}
        return self._page(request, url, selection, rendered, next_state, to, minimal)

    def _round(self, selection: Selection, frm: int, to: int) -> list[tuple[Any, ...]]:
        key = (json.dumps(selection.as_json(), sort_keys=True), frm, to)
        cached = self._rounds.get(key)
        if cached is not None:
            self._rounds.move_to_end(key)
            return cached
        entries = self._coalesce(selection, frm, to)
        self._rounds[key] = entries
        if len(self._rounds) > _CACHE_ROUNDS:
            self._rounds.popitem(last=False)
        return entries

    def _coalesce(self, selection: Selection, frm: int, to: int) -> list[tuple[Any, ...]]:
        store = self.host.store
        wanted = set(selection.ids) if selection.ids is not None else None
        touched: dict[str, _Accumulated] = {}
        for change in store.changes.between(selection.collection, frm, to):
            if wanted is not None and change.id not in wanted:
                continue
            acc = touched.setdefault(change.id, _Accumulated())
            if change.kind == NEW:
                acc.new, acc.status = True, "live"
            elif change.kind == UPDATED:
                acc.props |= change.props
            elif change.kind in (SOFT_DELETED, GONE):
                acc.status = change.kind
            elif change.kind == LINK and change.rel in selection.rels:
                acc.links[(change.rel, change.target)] = (change.target_type, change.added)
        tracked = set(selection.props) if selection.props is not None else None
        chunk = self._chunk()
        entries: list[tuple[Any, ...]] = []
        extra: list[tuple[Any, ...]] = []
        live = store.coll(selection.collection).objs
        for obj_id, acc in touched.items():
            if obj_id not in live:
                entry = store.deleted.get(obj_id)
                reason = (
                    "changed" if entry is not None and entry.collection == selection.collection else "deleted"
                )
                entries.append(("removed", obj_id, reason))
                continue
            if acc.new or acc.status in (SOFT_DELETED, GONE):
                links = {rel: self._current_links(rel, obj_id) for rel in selection.rels}
                props: frozenset[str] | None = None
            else:
                changed = acc.props if tracked is None else acc.props & tracked
                links = {}
                for (rel, target), (target_type, added) in acc.links.items():
                    links.setdefault(rel, []).append(_link_item(target, target_type, added))
                if not changed and not links:
                    continue
                props = frozenset(changed)
            first: dict[str, list[Obj]] = {}
            for rel, items in links.items():
                if not items:
                    continue
                limit = chunk if rel == "members" else len(items)
                first[rel] = items[:limit]
                for start in range(limit, len(items), limit):
                    extra.append(("links", obj_id, rel, items[start : start + limit]))
            entries.append(("full" if props is None else "upd", obj_id, props, first))
        return entries + extra

    def _render(self, spec: tuple[Any, ...], selection: Selection, minimal: bool) -> Obj | None:
        kind, obj_id = spec[0], spec[1]
        if kind == "removed":
            return {"id": obj_id, "@removed": {"reason": spec[2]}}
        if kind == "links":
            return {"id": obj_id, f"{spec[2]}@delta": spec[3]}
        obj = self.host.store.get(selection.collection, obj_id)
        if obj is None:  # deleted after the round was computed; the next round reports it
            entry = self.host.store.deleted.get(obj_id)
            return {"id": obj_id, "@removed": {"reason": "changed" if entry is not None else "deleted"}}
        if kind == "full":
            out = self._project(obj, selection.props)
        elif minimal:
            out = {"id": obj_id, **{p: obj.get(p) for p in sorted(spec[2])}}
        else:
            out = self._project(obj, selection.props)
        for rel, items in spec[3].items():
            out[f"{rel}@delta"] = items
        return out
