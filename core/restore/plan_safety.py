"""What keeps a restore from locking people out or colliding with the tenant as it is now.

Break-glass accounts stay excluded from Conditional Access policies whatever the snapshot says; a unique name
(UPN, mail nickname) that another live object took since blocks bringing the object back; and a recreate
warns about what a new id loses (passwords, appIds) or that a CA policy comes back report-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.catalog import Catalog
from core.registry import ObjectType
from core.restore.live import LiveObject, ObjectRef, Presence
from core.restore.model import PropertyChange
from core.restore.plan_bodies import REPORT_ONLY, values_at, with_value_at
from core.restore.plan_draft import PlanDraft, display
from core.snapshots import StoredObject

_EXCLUDED_USERS = "conditions.users.excludeUsers"


def break_glass_ids(catalog: Catalog, tenant_id: str, accounts: Sequence[str]) -> set[str]:
    """Object ids of the break-glass accounts, given as UPNs (looked up in the catalog) or ids."""
    ids: set[str] = set()
    for account in accounts:
        text = account.strip()
        if "@" not in text:
            ids.add(text)
            continue
        for found in catalog.find_objects(tenant_id, text, object_type="user", limit=5):
            if (found.principal_name or "").lower() == text.lower():
                ids.add(found.object_id)
    return ids


def keep_break_glass(
    draft: PlanDraft,
    stored: StoredObject,
    live: LiveObject,
    body: dict[str, Any],
    changes: list[PropertyChange],
    name: str,
) -> tuple[dict[str, Any], list[PropertyChange]]:
    """The CA policy's patch with every break-glass account excluded now still excluded."""
    path = _EXCLUDED_USERS
    if "conditions" not in body or not draft.break_glass:
        return body, changes
    excluded_now = set(values_at(live.object or {}, path))
    kept = sorted((excluded_now & draft.break_glass) - set(values_at(body, path)))
    if not kept:
        return body, changes
    for account in kept:
        body = with_value_at(body, path, account)
    draft.warn(
        "break_glass_kept",
        f"Conditional Access policy {name!r}: break-glass account(s) {', '.join(kept)} stay excluded "
        "although the snapshot did not exclude them",
        "conditionalAccessPolicy",
        stored.id,
    )
    changes = [c for c in changes if c.path != path]
    new_list = values_at(body, path)
    if sorted(new_list) != sorted(excluded_now):
        changes.append(PropertyChange(path, sorted(excluded_now), new_list))
    return body, changes


async def check_names(draft: PlanDraft, refs: Sequence[ObjectRef]) -> None:
    """Names that must be unique and may now belong to another live object (``$filter`` queries)."""
    lookup = getattr(draft.live, "holders", None)
    if lookup is None:
        return
    wanted: dict[tuple[str, str], set[str]] = {}
    for ref in refs:
        live = draft.seen.get(ref.key)
        if live is None or live.presence is Presence.PRESENT or ref.object_type not in ("user", "group"):
            continue
        stored = draft.reader.get(ref.object_type, ref.object_id)
        for prop in _unique_props(ref.object_type, live.presence):
            value = stored.object.get(prop) if stored else None
            if isinstance(value, str) and value:
                wanted.setdefault((ref.object_type, prop), set()).add(value)
    for (type_name, prop), values in sorted(wanted.items()):
        found = await lookup(type_name, prop, sorted(values))
        for value, ids in found.items():
            draft.taken[(prop, value.lower())] = ids


def taken_by_other(draft: PlanDraft, t: ObjectType, stored: StoredObject, presence: Presence) -> str | None:
    """Why the object cannot come back because another live object holds its unique name (None: it can)."""
    for prop in _unique_props(t.name, presence):
        value = stored.object.get(prop)
        if not isinstance(value, str):
            continue
        others = [i for i in draft.taken.get((prop, value.lower()), []) if i != stored.id]
        if others:
            name = display(t, stored.object, stored.id)
            draft.warn(
                "name_taken",
                f"{prop} {value!r} of {t.name} {name} now belongs to {others[0]}: rename or remove that "
                "object, then plan again",
                t.name,
                stored.id,
            )
            return f"{prop} {value!r} is now used by {others[0]}"
    return None


def _unique_props(type_name: str, presence: Presence) -> tuple[str, ...]:
    if type_name == "user":
        return (
            ("userPrincipalName",) if presence is Presence.DELETED else ("userPrincipalName", "mailNickname")
        )
    if type_name == "group" and presence is Presence.ABSENT:
        return ("mailNickname",)
    return ()


def recreate_warnings(
    draft: PlanDraft, t: ObjectType, stored: StoredObject, name: str, body: dict[str, Any]
) -> None:
    """What a person must know about an object that comes back with a new id."""
    obj = stored.object
    if t.name == "user":
        lost = (
            "licences, MFA registrations and mailbox links" if obj.get("assignedLicenses") else "MFA methods"
        )
        draft.warn(
            "needs_password",
            f"user {name} is recreated with a new id: it needs a new password or Temporary Access Pass, "
            f"and loses {lost}",
            t.name,
            stored.id,
        )
    elif t.name == "application":
        draft.warn(
            "new_app_id",
            f"app {name} is recreated with a new appId (client id): update the apps and configs that use "
            f"{obj.get('appId')}; its service principal follows the new app",
            t.name,
            stored.id,
        )
    elif t.name == "servicePrincipal":
        draft.warn(
            "new_service_principal",
            f"service principal {name} is recreated with a new object id; its assignments and grants are "
            "re-created against it",
            t.name,
            stored.id,
        )
    elif t.name == "conditionalAccessPolicy" and body.get("state") == REPORT_ONLY != obj.get("state"):
        draft.warn(
            "report_only",
            f"Conditional Access policy {name!r} comes back report-only: turn it on after checking its "
            "sign-in impact",
            t.name,
            stored.id,
        )
