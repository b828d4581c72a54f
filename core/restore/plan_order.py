"""The plan's order: creates first with what they depend on before them, then patches, links and skips, each
in the registry's restore order, with ``depends_on`` filled so the executor can run independent steps
together."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from core.registry import restore_order
from core.restore.model import Action, Operation, PlanWarning
from core.restore.plan_draft import PlanDraft

_RANK = {t.name: n for n, t in enumerate(restore_order())}
_PHASE = {
    Operation.RESTORE_DELETED: 0,
    Operation.RECREATE: 0,
    Operation.PATCH: 1,
    Operation.REMOVE_LINK: 2,
    Operation.ADD_LINK: 2,
    Operation.SKIP: 3,
}
_CREATES = (Operation.RESTORE_DELETED, Operation.RECREATE)


def ordered_actions(draft: PlanDraft) -> list[Action]:
    actions = _with_dependencies(draft, list(draft.actions.values()))
    creates = _topological([a for a in actions if a.operation in _CREATES])
    rest = sorted((a for a in actions if a.operation not in _CREATES), key=_sort_key)
    return creates + rest


def warning_order(warning: PlanWarning) -> tuple[str, str, str, str]:
    return (warning.code, warning.object_type or "", warning.object_id or "", warning.message)


def _with_dependencies(draft: PlanDraft, actions: list[Action]) -> list[Action]:
    """Each action depends on the creates of the objects it names (itself, its target, ids in its body)."""
    out: list[Action] = []
    for action in actions:
        if action.operation is Operation.SKIP:
            out.append(replace(action, depends_on=()))
            continue
        needed = {draft.creators.get(action.object_id), draft.creators.get(action.target_id or "")}
        needed |= {draft.creators.get(value) for value in _strings(action.body)}
        if action.object_type == "servicePrincipal" and action.operation is Operation.RECREATE:
            needed |= _app_creator(draft, action)
        deps = sorted(d for d in needed if d and d != action.key and d in draft.actions)
        out.append(replace(action, depends_on=tuple(d for d in deps if not d.startswith("skip:"))))
    return out


def _app_creator(draft: PlanDraft, action: Action) -> set[str | None]:
    """A recreated service principal names its app by appId, which only the recreated app knows."""
    app_id = (action.body or {}).get("appId")
    found: set[str | None] = set()
    for object_id, type_name in draft.recreated.items():
        if type_name == "application":
            app = draft.reader.get("application", object_id)
            if app is not None and app.object.get("appId") == app_id:
                found.add(draft.creators.get(object_id))
    return found


def _topological(actions: list[Action]) -> list[Action]:
    """Creates in type rank order, a dependency always first (a group before the policy naming it)."""
    pending = sorted(actions, key=_sort_key)
    keys = {a.key for a in pending}
    placed: set[str] = set()
    out: list[Action] = []
    while pending:
        ready = [a for a in pending if all(d in placed or d not in keys for d in a.depends_on)]
        if not ready:
            ready = pending[:1]  # a cycle: keep the rank order rather than loop
        first = ready[0]
        out.append(first)
        placed.add(first.key)
        pending.remove(first)
    return out


def _sort_key(action: Action) -> tuple[int, int, str, str, str]:
    return (
        _PHASE[action.operation],
        _RANK.get(action.object_type, len(_RANK)),
        action.display_name.lower(),
        action.object_id,
        action.key,
    )


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
