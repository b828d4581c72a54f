"""Coalescing of group member and owner adds: up to 20 links in one ``PATCH /groups/{id}``.

Graph takes ``members@odata.bind`` / ``owners@odata.bind`` with at most 20 directory object URLs in one
update, all or nothing. One such request spends one write of the quota where single ``$ref`` adds spend
twenty, so the executor sends a level's adds to the same group and relationship as bind chunks and falls
back to single adds for a chunk Graph refuses (one link already there must not fail nineteen good ones).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.restore.model import Operation
from core.restore.writes import StepWrite, WriteCall

MAX_BINDS = 20
_BINDABLE = frozenset({"members", "owners"})
_REF = "/$ref"


@dataclass(frozen=True)
class Unit:
    """One request of a level: a single step's write, or one bind PATCH carrying several link steps."""

    writes: tuple[StepWrite, ...]
    call: WriteCall

    @property
    def coalesced(self) -> bool:
        return len(self.writes) > 1

    @classmethod
    def single(cls, write: StepWrite) -> Unit:
        return cls((write,), write.calls[0])


def _bind_source(write: StepWrite) -> tuple[str, str, str] | None:
    """(group path, relationship, target URL) for a group member/owner ``$ref`` add; None otherwise."""
    action = write.action
    if (
        action.operation is not Operation.ADD_LINK
        or write.kind.name != "group"
        or action.relationship not in _BINDABLE
        or len(write.calls) != 1
    ):
        return None
    call = write.calls[0]
    suffix = f"/{action.relationship}{_REF}"
    url = (call.body or {}).get("@odata.id")
    if (
        call.method != "POST"
        or not call.path.endswith(suffix)
        or not isinstance(url, str)
        or not call.batchable
    ):
        return None
    return call.path[: -len(suffix)], action.relationship, url


def units_of(writes: list[StepWrite]) -> list[Unit]:
    """The level's writes as requests: adds to one group's members (or owners) in chunks of 20, the rest
    one request each, in the order the writes came."""
    grouped: dict[tuple[str, str], list[tuple[StepWrite, str]]] = {}
    order: list[tuple[str, str] | StepWrite] = []
    for write in writes:
        source = _bind_source(write)
        if source is None:
            order.append(write)
            continue
        path, rel, url = source
        if (path, rel) not in grouped:
            grouped[(path, rel)] = []
            order.append((path, rel))
        grouped[(path, rel)].append((write, url))
    units: list[Unit] = []
    for item in order:
        if isinstance(item, StepWrite):
            units.append(Unit.single(item))
            continue
        path, rel = item
        links = grouped[item]
        for start in range(0, len(links), MAX_BINDS):
            chunk = links[start : start + MAX_BINDS]
            if len(chunk) == 1:
                units.append(Unit.single(chunk[0][0]))
                continue
            body = {f"{rel}@odata.bind": [url for _, url in chunk]}
            units.append(Unit(tuple(w for w, _ in chunk), WriteCall("PATCH", path, body)))
    return units
