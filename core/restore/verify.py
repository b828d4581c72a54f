"""After a run: read every restored object back and compare it with what the plan wrote, modulo new ids.

The plan's bodies come from the snapshot, so "what the plan wrote" is the snapshot object cut to what can
be restored: server-assigned, volatile and unrestorable properties are not compared, and neither are the
differences the plan states itself (a report-only Conditional Access state, kept break-glass exclusions and
a recreated app's new appId are already in its bodies, or not in them at all).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from core.registry import object_type
from core.restore.exec_bodies import omitted_on_create, remap_binds
from core.restore.journal import StepRow
from core.restore.live import LiveObject, LiveTenant, ObjectRef, Presence
from core.restore.model import Action, Operation, Plan, remap
from core.restore.writes import ASSIGNMENT_TYPES

OutcomeStatus = Literal[
    "restored", "recreated", "patched", "relinked", "unchanged", "skipped", "failed", "mismatch"
]
_MAIN = {
    Operation.RESTORE_DELETED: "restored",
    Operation.RECREATE: "recreated",
    Operation.PATCH: "patched",
    Operation.ADD_LINK: "relinked",
    Operation.REMOVE_LINK: "relinked",
}
_PRIORITY = ("restored", "recreated", "patched", "relinked")
_MAX_SHOWN = 3
LAG_RETRIES = 4  # re-reads of an object that does not match yet: 0.5 + 1 + 2 + 4 s of pauses at most
LAG_DELAY_S = 0.5


@dataclass(frozen=True)
class ObjectOutcome:
    object_type: str
    object_id: str  # the snapshot id
    display_name: str
    new_id: str | None
    status: OutcomeStatus
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "object_type": self.object_type,
            "object_id": self.object_id,
            "display_name": self.display_name,
            "new_id": self.new_id,
            "status": self.status,
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ObjectOutcome:
        return cls(
            object_type=str(data["object_type"]),
            object_id=str(data["object_id"]),
            display_name=str(data.get("display_name") or ""),
            new_id=data.get("new_id"),
            status=data["status"],
            detail=data.get("detail"),
        )


async def verify(
    plan: Plan,
    live: LiveTenant,
    steps: Mapping[str, StepRow],
    new_ids: Mapping[str, str],
    *,
    retries: int = LAG_RETRIES,
    delay_s: float = LAG_DELAY_S,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> list[ObjectOutcome]:
    """One outcome per object of the plan. An object that does not match yet is read again with growing
    pauses (``retries`` times): a write only just made may not have replicated to the replica that answers
    the read. What still differs after that is a mismatch."""
    groups: dict[tuple[str, str], list[Action]] = {}
    for action in plan.actions:
        groups.setdefault((action.object_type, action.object_id), []).append(action)
    outcomes: dict[tuple[str, str], ObjectOutcome] = {}
    to_read: list[tuple[str, str]] = []
    for key, actions in groups.items():
        early = _without_reading(key, actions, steps, new_ids)
        if early is not None:
            outcomes[key] = early
        else:
            to_read.append(key)
    for attempt in range(retries + 1):
        refs = [ObjectRef(t, new_ids.get(i, i)) for t, i in to_read]
        lives = await live.fetch_many(refs) if refs else []
        again: list[tuple[str, str]] = []
        for key, found in zip(to_read, lives, strict=True):
            outcomes[key] = _compare(key, groups[key], found, steps, new_ids)
            if outcomes[key].status == "mismatch":
                again.append(key)
        if not again or attempt == retries:
            break
        await sleep(delay_s * 2**attempt)
        to_read = again
    return [outcomes[key] for key in groups]


def _without_reading(
    key: tuple[str, str], actions: list[Action], steps: Mapping[str, StepRow], new_ids: Mapping[str, str]
) -> ObjectOutcome | None:
    """The outcome when nothing needs reading back: a failed or skipped step, or no write at all."""
    object_type_name, object_id = key
    name = actions[0].display_name
    new_id = new_ids.get(object_id)
    writes = [a for a in actions if a.operation is not Operation.SKIP]
    failed = [a for a in writes if (row := steps.get(a.key)) is not None and row.state == "failed"]
    if failed:
        return ObjectOutcome(object_type_name, object_id, name, new_id, "failed", _reasons(failed, steps))
    skipped = [a for a in writes if (row := steps.get(a.key)) is None or row.state != "done"]
    if not writes:
        reasons = "; ".join(sorted({a.reason or "skipped by the plan" for a in actions}))
        return ObjectOutcome(object_type_name, object_id, name, None, "skipped", reasons)
    if skipped:
        return ObjectOutcome(object_type_name, object_id, name, new_id, "skipped", _reasons(skipped, steps))
    return None


def _reasons(actions: Sequence[Action], steps: Mapping[str, StepRow]) -> str:
    texts = []
    for action in actions[:_MAX_SHOWN]:
        row = steps.get(action.key)
        texts.append(f"{action.key}: {(row.reason() if row else None) or 'not run'}")
    more = f" (+{len(actions) - _MAX_SHOWN} more)" if len(actions) > _MAX_SHOWN else ""
    return "; ".join(texts) + more


def _compare(
    key: tuple[str, str],
    actions: list[Action],
    found: LiveObject,
    steps: Mapping[str, StepRow],
    new_ids: Mapping[str, str],
) -> ObjectOutcome:
    object_type_name, object_id = key
    name = actions[0].display_name
    new_id = new_ids.get(object_id)
    problems: list[str] = []
    for action in actions:
        problems.extend(_problems(action, found, new_ids))
    notes = sorted({r for a in actions if (row := steps.get(a.key)) and (r := row.reason())})
    if problems:
        shown = "; ".join(problems[:_MAX_SHOWN]) + (
            f" (+{len(problems) - _MAX_SHOWN} more)" if len(problems) > _MAX_SHOWN else ""
        )
        return ObjectOutcome(object_type_name, object_id, name, new_id, "mismatch", shown)
    done = {_MAIN[a.operation] for a in actions if a.operation in _MAIN}
    status = next((s for s in _PRIORITY if s in done), "unchanged")
    return ObjectOutcome(object_type_name, object_id, name, new_id, status, "; ".join(notes) or None)  # type: ignore[arg-type]


def _problems(action: Action, found: LiveObject, new_ids: Mapping[str, str]) -> list[str]:
    op = action.operation
    kind = object_type(action.object_type)
    if op is Operation.SKIP:
        return []
    if found.presence is not Presence.PRESENT:
        return [f"{kind.title[:-1] if kind.title.endswith('s') else kind.title} is {found.presence.value}"]
    actual = found.object or {}
    if op is Operation.RECREATE or (op is Operation.ADD_LINK and kind.name in ASSIGNMENT_TYPES):
        omit = omitted_on_create(kind) | {"passwordProfile"}
        expected = {
            k: v
            for k, v in remap_binds(action.body or {}, new_ids).items()
            if k not in omit and not k.startswith("@") and "@" not in k
        }
        if kind.name == "unifiedRoleEligibilitySchedule":
            expected = {
                k: expected[k]
                for k in ("principalId", "roleDefinitionId", "directoryScopeId")
                if k in expected
            }
        return differences(expected, actual)
    if op is Operation.RESTORE_DELETED:
        return []
    if op is Operation.PATCH:
        return differences(remap(action.body or {}, new_ids), actual)
    target = new_ids.get(action.target_id or "", action.target_id)
    linked = found.links.get(action.relationship or "")
    ids = linked if isinstance(linked, list) else ([linked] if linked else [])
    if op is Operation.ADD_LINK and target not in ids:
        return [f"{action.relationship} lacks {target}"]
    if op is Operation.REMOVE_LINK and target in ids:
        return [f"{action.relationship} still has {target}"]
    return []


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Paths where ``actual`` does not hold ``expected`` (extra properties in ``actual`` are fine)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [path or "object"] if expected else []
        out: list[str] = []
        for key, value in expected.items():
            if key.startswith("@"):
                continue
            out.extend(differences(value, actual.get(key), f"{path}.{key}" if path else key))
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or _canonical_list(expected) != _canonical_list(actual):
            return [path]
        return []
    if expected is None:
        return [] if actual in (None, [], {}) else [path]
    return [] if expected == actual else [path]


def _canonical_list(values: list[Any]) -> list[str]:
    return sorted(json.dumps(v, sort_keys=True) for v in values)
