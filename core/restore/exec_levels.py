"""Dependency levels of a plan: each level needs only earlier ones, so its actions may run together."""

from __future__ import annotations

from collections.abc import Sequence

from core.restore.model import Action


def levels(actions: Sequence[Action]) -> list[list[Action]]:
    """Actions grouped by depth in the ``depends_on`` graph, plan order kept inside a level.

    A dependency on a key the plan does not hold counts as met; a cycle (a planner bug) is broken by running
    the remaining actions in plan order, one level each.
    """
    keys = {a.key for a in actions}
    depth: dict[str, int] = {}
    pending = list(actions)
    while pending:
        waiting: list[Action] = []
        for action in pending:
            deps = [d for d in action.depends_on if d in keys]
            if all(d in depth for d in deps):
                depth[action.key] = 1 + max((depth[d] for d in deps), default=-1)
            else:
                waiting.append(action)
        if len(waiting) == len(pending):
            top = max(depth.values(), default=-1)
            for offset, action in enumerate(waiting, 1):
                depth[action.key] = top + offset
            break
        pending = waiting
    grouped: dict[int, list[Action]] = {}
    for action in actions:
        grouped.setdefault(depth[action.key], []).append(action)
    return [grouped[d] for d in sorted(grouped)]
