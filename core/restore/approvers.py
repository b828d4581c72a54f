"""The approval rules that need Graph: who a person is in the directory, and whether they may approve."""

from __future__ import annotations

import structlog

from core.graph import GraphClient, GraphError
from core.graph.errors import NotFound as GraphNotFound
from core.restore.approval_rules import ApprovalPolicy
from core.restore.errors import ApprovalRefused
from core.restore.identity import Person, is_object_id

log = structlog.get_logger("rewind.restore")


async def identify(graph: GraphClient, policy: ApprovalPolicy, person: Person) -> Person:
    """The person with their Entra object id and email when the directory knows them (so two accounts
    of one person are recognised); unchanged when it does not."""
    if person.entra_id and person.email:
        return person
    lookup = person.entra_id or person.email
    if lookup is None:
        return person
    try:
        user = await graph.get(f"/users/{lookup}", params={"$select": "id,userPrincipalName,mail"})
    except GraphNotFound:
        return person
    except GraphError as exc:
        if policy.approver_group is not None:
            raise  # membership cannot be checked without the directory
        log.warning("identity_lookup_failed", error=str(exc))
        return person
    aliases = set(person.aliases)
    if user.get("id"):
        aliases.add(f"entra:{str(user['id']).lower()}")
    for name in ("userPrincipalName", "mail"):
        if user.get(name):
            aliases.add(f"email:{str(user[name]).strip().lower()}")
    return Person(display=person.display, aliases=frozenset(aliases))


async def may_approve(graph: GraphClient, policy: ApprovalPolicy, person: Person) -> bool:
    """Listed in ``approvers``, or a transitive member of ``approver_group`` (anyone, when neither is set)."""
    if not policy.restricted or person.matches_any(policy.approvers):
        return True
    if policy.approver_group is None:
        return False
    entra_id = person.entra_id
    if entra_id is None or not is_object_id(entra_id):
        raise ApprovalRefused(
            "not_approver",
            f"{person} is not a user of this tenant, so membership of the approver group cannot be "
            "checked: act as the Entra account (its email or object id)",
        )
    answer = await graph.request(
        "POST", f"/users/{entra_id}/checkMemberGroups", json={"groupIds": [policy.approver_group]}
    )
    found = answer.json.get("value", []) if isinstance(answer.json, dict) else []
    return policy.approver_group.lower() in {str(g).lower() for g in found}
