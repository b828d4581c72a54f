"""From a selection and the live tenant to a plan: per object restore, recreate, patch, relink or skip.

The planner only reads. It compares each selected object of the snapshot with the live tenant (read in
batches), decides what brings it back, follows what pointed at every object that comes back with a new id
(memberships, policies, assignments) and orders the actions by the registry's dependency edges, with
``depends_on`` filled so the executor can run independent steps together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from core.catalog import Catalog
from core.registry import ObjectType, Relationship, RestoreMode, object_type, restore_order
from core.repository import Repository
from core.restore.live import LiveObject, LiveTenant, ObjectRef, Presence, fingerprint
from core.restore.model import RISK_ORDER, Action, Operation, Plan, PlanWarning, PropertyChange, Risk
from core.restore.plan_bodies import (
    CREATE_ONLY_FIELDS,
    REPORT_ONLY,
    SECRETS,
    create_body,
    differences,
    dynamic_members,
    values_at,
    with_value_at,
)
from core.restore.plan_refs import Holder, holders_of, service_principals_of
from core.restore.selectors import Selection, parents_of, parse_selector, resolve_selection
from core.snapshots import SnapshotReader, StoredObject

FETCH_CHUNK = 500  # objects read live per round: bounded memory, still ~25 $batch requests per round
SECRET_REASON = "secrets cannot be restored; create a new one with addPassword"
SCOPED_ROLE_REASON = "scoped role memberships are not relinked: assign the AU-scoped role again by hand"
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
_HIGH_TYPES = frozenset(
    {
        "namedLocation",
        "authenticationStrengthPolicy",
        "unifiedRoleDefinition",
        "authenticationMethodsPolicy",
        "authorizationPolicy",
        "crossTenantAccessPolicy",
        "crossTenantAccessPolicyConfigurationDefault",
        "crossTenantAccessPolicyConfigurationPartner",
    }
)
_MEDIUM_TYPES = frozenset({"application", "servicePrincipal", "appRoleAssignment", "oauth2PermissionGrant"})


@dataclass(frozen=True)
class PlanOptions:
    break_glass: tuple[str, ...] = ()  # UPNs or object ids never removed from a CA policy's exclusions
    ca_report_only: bool = True  # recreated CA policies come back as enabledForReportingButNotEnforced


async def plan_restore(
    *,
    tenant_id: str,
    catalog: Catalog,
    repository: Repository,
    live: LiveTenant,
    selector: str,
    snapshot: str | None = None,
    options: PlanOptions = PlanOptions(),
    now: datetime | None = None,
) -> Plan:
    """The plan that brings the objects ``selector`` names back to the snapshot (default: the latest)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    parsed = parse_selector(selector)
    selection = await resolve_selection(
        parsed,
        tenant_id=tenant_id,
        catalog=catalog,
        repository=repository,
        live=live,
        snapshot=snapshot,
        now=moment,
    )
    builder = _Builder(tenant_id, catalog, selection, live, options)
    await builder.build()
    return builder.plan(" ".join(selector.split()), moment)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def display(t: ObjectType, obj: dict[str, Any], fallback: str) -> str:
    for key in (t.display_field, t.principal_field, "displayName", "principalDisplayName"):
        value = obj.get(key) if key else None
        if isinstance(value, str) and value:
            return value
    return fallback


class _Builder:
    def __init__(
        self, tenant_id: str, catalog: Catalog, selection: Selection, live: LiveTenant, options: PlanOptions
    ) -> None:
        self.tenant_id = tenant_id
        self.catalog = catalog
        self.selection = selection
        self.reader: SnapshotReader = selection.reader
        self.live = live
        self.options = options
        self.seen: dict[str, LiveObject] = dict(selection.prefetched)
        self.actions: dict[str, Action] = {}
        self.warnings: dict[tuple[str, str | None, str | None], PlanWarning] = {
            (w.code, w.object_type, w.object_id): w for w in selection.notes
        }
        self.creators: dict[str, str] = {}  # snapshot id -> key of the action that brings it back
        self.recreated: dict[str, str] = {}  # snapshot id -> type, for objects that get a new id
        self.expanded: set[str] = set()
        self.decided: set[str] = set()
        self.unchanged = 0
        self.taken: dict[tuple[str, str], list[str]] = {}
        self.break_glass = self._break_glass_ids()

    # --- the run --------------------------------------------------------------------------------------

    async def build(self) -> None:
        refs = self.selection.refs
        await self._fetch(refs)
        await self._check_names(refs)
        for ref in refs:
            self._decide(ref)
        while set(self.recreated) - self.expanded:
            fresh = {i: t for i, t in self.recreated.items() if i not in self.expanded}
            self.expanded |= set(fresh)
            await self._follow(fresh)
        await self._check_link_targets()

    def plan(self, selector: str, now: datetime) -> Plan:
        actions = self._ordered(self._with_dependencies(list(self.actions.values())))
        options: dict[str, Any] = {
            "ca_report_only": self.options.ca_report_only,
            "break_glass": sorted(self.break_glass),
            "unchanged": self.unchanged,
        }
        return Plan(
            tenant_id=self.tenant_id,
            snapshot_id=self.selection.snapshot.snapshot_id,
            snapshot_created_at=iso(self.selection.snapshot.created_at),
            selector=selector,
            created_at=iso(now),
            actions=tuple(actions),
            warnings=tuple(sorted(self.warnings.values(), key=_warning_order)),
            live_state={key: fingerprint(self.seen[key]) for key in sorted(self.seen)},
            options=options,
        )

    # --- live reads -----------------------------------------------------------------------------------

    async def _fetch(self, refs: Iterable[ObjectRef]) -> None:
        wanted = list(dict.fromkeys(r for r in refs if r.key not in self.seen))
        remember = getattr(self.live, "remember_parents", None)
        if remember is not None:
            remember(parents_of(self.reader, wanted))
        for start in range(0, len(wanted), FETCH_CHUNK):
            for found in await self.live.fetch_many(wanted[start : start + FETCH_CHUNK]):
                self.seen[found.ref.key] = found

    async def _check_names(self, refs: Sequence[ObjectRef]) -> None:
        """Names that must be unique and may now belong to another live object (``$filter`` queries)."""
        lookup = getattr(self.live, "holders", None)
        if lookup is None:
            return
        wanted: dict[tuple[str, str], set[str]] = {}
        for ref in refs:
            live = self.seen.get(ref.key)
            if live is None or live.presence is Presence.PRESENT or ref.object_type not in ("user", "group"):
                continue
            stored = self.reader.get(ref.object_type, ref.object_id)
            for prop in _unique_props(ref.object_type, live.presence):
                value = stored.object.get(prop) if stored else None
                if isinstance(value, str) and value:
                    wanted.setdefault((ref.object_type, prop), set()).add(value)
        for (type_name, prop), values in sorted(wanted.items()):
            found = await lookup(type_name, prop, sorted(values))
            for value, ids in found.items():
                self.taken[(prop, value.lower())] = ids

    # --- one object -----------------------------------------------------------------------------------

    def _decide(self, ref: ObjectRef) -> None:
        if ref.key in self.decided:
            return
        self.decided.add(ref.key)
        stored = self.reader.get(ref.object_type, ref.object_id)
        if stored is None:
            return
        t = object_type(ref.object_type)
        live = self.seen.get(ref.key) or LiveObject(ref, Presence.ABSENT)
        name = display(t, stored.object, ref.object_id)
        refusal = self._refusal(t, stored, live)
        if refusal is not None:
            if live.presence is Presence.PRESENT and not self._differs(t, stored, live):
                self.unchanged += 1
            else:
                self._skip(t, ref.object_id, name, refusal)
            return
        if live.presence is Presence.DELETED and t.restore in (
            RestoreMode.RECYCLE_BIN,
            RestoreMode.CA_DELETED_ITEMS,
        ):
            self._restore_deleted(t, stored, live, name)
        elif live.presence is Presence.PRESENT:
            self._bring_back_present(t, stored, live, name)
        elif t.singleton or t.restore is RestoreMode.PATCH:
            self._skip(t, ref.object_id, name, "not readable live: check the restore app's read permissions")
        else:
            self._recreate(t, stored, name)

    def _refusal(self, t: ObjectType, stored: StoredObject, live: LiveObject) -> str | None:
        obj = stored.object
        if t.restore is RestoreMode.READ_ONLY:
            return f"{t.title} are not restored: a domain comes back only through DNS re-verification"
        flag = t.synced_flag
        if flag and (obj.get(flag) or (live.object or {}).get(flag)):
            self._warn(
                "synced", f"{display(t, obj, stored.id)} is synced from on-premises AD", t.name, stored.id
            )
            return "synced from on-premises AD: restore it there, the next sync brings it back"
        if (t.name == "unifiedRoleDefinition" and obj.get("isBuiltIn")) or (
            t.name == "authenticationStrengthPolicy" and obj.get("policyType") == "builtIn"
        ):
            return "built-in: Microsoft manages it and it cannot be changed"
        return None

    def _differs(self, t: ObjectType, stored: StoredObject, live: LiveObject) -> bool:
        body, _, unwritable = differences(t, stored.object, live.object or {})
        return bool(body or unwritable or self._link_changes(t, stored, live))

    def _restore_deleted(self, t: ObjectType, stored: StoredObject, live: LiveObject, name: str) -> None:
        taken = self._taken_by_other(t, stored, live.presence)
        if taken:
            self._skip(t, stored.id, name, taken)
            return
        key = self._add(
            Action(
                key=f"restore_deleted:{t.name}:{stored.id}",
                operation=Operation.RESTORE_DELETED,
                object_type=t.name,
                object_id=stored.id,
                display_name=name,
                risk=_risk(t, Operation.RESTORE_DELETED, stored.object),
                reason="from the recycle bin: same id, its memberships come back with it",
            )
        )
        self.creators[stored.id] = key
        body, changes, unwritable = differences(t, stored.object, live.object or {})
        if t.name == "namedLocation" and stored.object.get("isTrusted"):
            body["isTrusted"] = True  # Graph brings named locations back untrusted
            body.setdefault("@odata.type", "#microsoft.graph.ipNamedLocation")
            changes.append(PropertyChange("isTrusted", False, True))
        if t.name == "conditionalAccessPolicy" and stored.object.get("state") == "enabled":
            self._warn(
                "restored_enabled",
                f"Conditional Access policy {name!r} comes back from the recycle bin enforced, as deleted",
                t.name,
                stored.id,
            )
        self._patch(t, stored, name, body, changes)
        self._unwritable(t, stored, name, unwritable)

    def _bring_back_present(self, t: ObjectType, stored: StoredObject, live: LiveObject, name: str) -> None:
        body, changes, unwritable = differences(t, stored.object, live.object or {})
        if t.name == "conditionalAccessPolicy" and body:
            body, changes = self._keep_break_glass(stored, live, body, changes, name)
        wrote = self._patch(t, stored, name, body, changes)
        wrote |= self._unwritable(t, stored, name, unwritable)
        for rel, added, removed in self._link_changes(t, stored, live):
            wrote = True
            if rel.name == "scopedRoleMembers":
                self._skip(t, stored.id, name, SCOPED_ROLE_REASON, detail=rel.name)
                continue
            for target in added:
                self._link(Operation.ADD_LINK, t, stored.id, name, rel, target)
            for target in removed:
                self._link(Operation.REMOVE_LINK, t, stored.id, name, rel, target)
        if not wrote:
            self.unchanged += 1

    def _recreate(self, t: ObjectType, stored: StoredObject, name: str) -> None:
        taken = self._taken_by_other(t, stored, Presence.ABSENT)
        if taken:
            self._skip(t, stored.id, name, taken)
            return
        body = create_body(t, stored.object, report_only=self.options.ca_report_only)
        key = self._add(
            Action(
                key=f"recreate:{t.name}:{stored.id}",
                operation=Operation.RECREATE,
                object_type=t.name,
                object_id=stored.id,
                display_name=name,
                risk=_risk(t, Operation.RECREATE, stored.object),
                body=body,
                reason="gone for good: created again with a new id; references to the old id are rewritten",
            )
        )
        self.creators[stored.id] = key
        if t.name not in ("crossTenantAccessPolicyConfigurationPartner",):
            self.recreated[stored.id] = t.name
        self._recreate_warnings(t, stored, name, body)
        self._unwritable(t, stored, name, [s for s in SECRETS if stored.object.get(s)])
        for rel in t.relationships:
            value = stored.links.get(rel.name)
            targets = [value] if isinstance(value, str) else sorted(value or [])
            if rel.name == "scopedRoleMembers":
                if targets:
                    self._skip(t, stored.id, name, SCOPED_ROLE_REASON, detail=rel.name)
                continue
            if rel.name == "members" and dynamic_members(t, stored.object):
                continue  # the membership rule fills the group again
            for target in targets:
                self._link(Operation.ADD_LINK, t, stored.id, name, rel, target)

    def _recreate_warnings(
        self, t: ObjectType, stored: StoredObject, name: str, body: dict[str, Any]
    ) -> None:
        obj = stored.object
        if t.name == "user":
            lost = (
                "licences, MFA registrations and mailbox links"
                if obj.get("assignedLicenses")
                else "MFA methods"
            )
            self._warn(
                "needs_password",
                f"user {name} is recreated with a new id: it needs a new password or Temporary Access Pass, "
                f"and loses {lost}",
                t.name,
                stored.id,
            )
        elif t.name == "application":
            self._warn(
                "new_app_id",
                f"app {name} is recreated with a new appId (client id): update the apps and configs that use "
                f"{obj.get('appId')}; its service principal follows the new app",
                t.name,
                stored.id,
            )
        elif t.name == "servicePrincipal":
            self._warn(
                "new_service_principal",
                f"service principal {name} is recreated with a new object id; its assignments and grants are "
                "re-created against it",
                t.name,
                stored.id,
            )
        elif t.name == "conditionalAccessPolicy" and body.get("state") == REPORT_ONLY != obj.get("state"):
            self._warn(
                "report_only",
                f"Conditional Access policy {name!r} comes back report-only: turn it on after checking its "
                "sign-in impact",
                t.name,
                stored.id,
            )

    def _taken_by_other(self, t: ObjectType, stored: StoredObject, presence: Presence) -> str | None:
        for prop in _unique_props(t.name, presence):
            value = stored.object.get(prop)
            if not isinstance(value, str):
                continue
            others = [i for i in self.taken.get((prop, value.lower()), []) if i != stored.id]
            if others:
                name = display(t, stored.object, stored.id)
                self._warn(
                    "name_taken",
                    f"{prop} {value!r} of {t.name} {name} now belongs to {others[0]}: rename or remove that "
                    "object, then plan again",
                    t.name,
                    stored.id,
                )
                return f"{prop} {value!r} is now used by {others[0]}"
        return None

    # --- actions --------------------------------------------------------------------------------------

    def _add(self, action: Action) -> str:
        self.actions.setdefault(action.key, action)
        return action.key

    def _skip(
        self, t: ObjectType, object_id: str, name: str, reason: str, *, detail: str | None = None
    ) -> None:
        suffix = f":{detail}" if detail else ""
        self._add(
            Action(
                key=f"skip:{t.name}:{object_id}{suffix}",
                operation=Operation.SKIP,
                object_type=t.name,
                object_id=object_id,
                display_name=name,
                reason=reason,
            )
        )

    def _patch(
        self,
        t: ObjectType,
        stored: StoredObject,
        name: str,
        body: dict[str, Any],
        changes: list[PropertyChange],
    ) -> bool:
        if not body:
            return False
        key = f"patch:{t.name}:{stored.id}"
        existing = self.actions.get(key)
        if existing is not None:  # merge with a reference rewrite planned earlier
            body = {**(existing.body or {}), **body}
            changes = [*existing.changes, *changes]
        self.actions[key] = Action(
            key=key,
            operation=Operation.PATCH,
            object_type=t.name,
            object_id=stored.id,
            display_name=name,
            risk=_patch_risk(t, stored.object, body),
            body=body,
            changes=tuple(changes),
        )
        return True

    def _unwritable(self, t: ObjectType, stored: StoredObject, name: str, props: Sequence[str]) -> bool:
        secrets = [p for p in props if p in SECRETS]
        other = [p for p in props if p not in SECRETS]
        if secrets:
            self._skip(t, stored.id, name, SECRET_REASON, detail="secrets")
            self._warn("secrets", f"{name}: {SECRET_REASON}", t.name, stored.id)
        if other:
            self._skip(
                t,
                stored.id,
                name,
                f"read-only, cannot be written back: {', '.join(sorted(other))}",
                detail="read_only",
            )
        return bool(props)

    def _link(
        self, op: Operation, t: ObjectType, object_id: str, name: str, rel: Relationship, target: str
    ) -> None:
        target_type = self._target_type(rel, target)
        verb = "add" if op is Operation.ADD_LINK else "remove"
        self._add(
            Action(
                key=f"{op.value}:{t.name}:{object_id}:{rel.name}:{target}",
                operation=op,
                object_type=t.name,
                object_id=object_id,
                display_name=name,
                risk=_link_risk(t, self.reader.get(t.name, object_id), op),
                relationship=rel.name,
                target_type=target_type,
                target_id=target,
                reason=f"{verb} {self._name_of(target_type, target)} ({rel.name})",
            )
        )

    def _target_type(self, rel: Relationship, target: str) -> str:
        for candidate in rel.targets:
            if self.reader.entry(candidate, target) is not None:
                return candidate
        for found in self.catalog.find_objects(self.tenant_id, target, limit=5):
            if found.object_id == target and found.object_type in rel.targets:
                return found.object_type
        return rel.targets[0]

    def _name_of(self, type_name: str, object_id: str) -> str:
        entry = self.reader.entry(type_name, object_id)
        return (entry.name or entry.principal or object_id) if entry else object_id

    def _link_changes(
        self, t: ObjectType, stored: StoredObject, live: LiveObject
    ) -> list[tuple[Relationship, list[str], list[str]]]:
        out: list[tuple[Relationship, list[str], list[str]]] = []
        for rel in t.relationships:
            if rel.name not in live.links or (rel.name == "members" and dynamic_members(t, stored.object)):
                continue
            want, have = stored.links.get(rel.name), live.links.get(rel.name)
            if rel.single:
                if want == have:
                    continue
                added = [want] if isinstance(want, str) else []
                removed = [have] if isinstance(have, str) and not added else []
                out.append((rel, added, removed))
                continue
            wanted = set(want or []) if isinstance(want, list) else set()
            present = set(have or []) if isinstance(have, list) else set()
            if wanted != present:
                out.append((rel, sorted(wanted - present), sorted(present - wanted)))
        return out

    def _warn(
        self, code: str, message: str, type_name: str | None = None, object_id: str | None = None
    ) -> None:
        self.warnings.setdefault(
            (code, type_name, object_id), PlanWarning(code, message, type_name, object_id)
        )

    # --- break-glass ----------------------------------------------------------------------------------

    def _break_glass_ids(self) -> set[str]:
        ids: set[str] = set()
        for account in self.options.break_glass:
            text = account.strip()
            if "@" not in text:
                ids.add(text)
                continue
            for found in self.catalog.find_objects(self.tenant_id, text, object_type="user", limit=5):
                if (found.principal_name or "").lower() == text.lower():
                    ids.add(found.object_id)
        return ids

    def _keep_break_glass(
        self,
        stored: StoredObject,
        live: LiveObject,
        body: dict[str, Any],
        changes: list[PropertyChange],
        name: str,
    ) -> tuple[dict[str, Any], list[PropertyChange]]:
        path = "conditions.users.excludeUsers"
        if "conditions" not in body or not self.break_glass:
            return body, changes
        excluded_now = set(values_at(live.object or {}, path))
        kept = sorted((excluded_now & self.break_glass) - set(values_at(body, path)))
        if not kept:
            return body, changes
        for account in kept:
            body = with_value_at(body, path, account)
        self._warn(
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

    # --- what pointed at recreated objects ------------------------------------------------------------

    async def _follow(self, fresh: dict[str, str]) -> None:
        """Relink, rewrite or recreate what pointed at objects that come back with a new id."""
        holders = list(holders_of(self.reader, fresh))
        apps = {
            str(self.reader.get("application", i).object.get("appId"))  # type: ignore[union-attr]
            for i, t in fresh.items()
            if t == "application" and self.reader.get("application", i) is not None
        }
        principals = service_principals_of(self.reader, apps) if apps else []
        refs = [ObjectRef(h.object_type, h.object_id) for h in holders]
        refs += [ObjectRef("servicePrincipal", i) for i in principals]
        await self._fetch(refs)
        created: list[ObjectRef] = [ObjectRef("servicePrincipal", i) for i in principals]
        for holder in holders:
            ref = ObjectRef(holder.object_type, holder.object_id)
            if holder.object_type in CREATE_ONLY_FIELDS or holder.object_id in self.recreated:
                created.append(ref)
                continue
            self._rewrite(holder)
        if created:
            await self._check_names(created)
        for ref in created:
            live = self.seen.get(ref.key)
            if live is not None and live.presence is not Presence.PRESENT:
                self._decide(ref)

    def _rewrite(self, holder: Holder) -> None:
        t = object_type(holder.object_type)
        stored = self.reader.get(t.name, holder.object_id)
        live = self.seen.get(f"{t.name}/{holder.object_id}")
        if stored is None or live is None:
            return
        name = display(t, stored.object, holder.object_id)
        own = self.creators.get(holder.object_id)
        restoring = own is not None and own.startswith(Operation.RESTORE_DELETED.value)
        if live.presence is not Presence.PRESENT and not restoring:
            return  # the holder is gone too and not part of the plan: nothing to point from
        if t.synced_flag and stored.object.get(t.synced_flag):
            reason = "synced from on-premises AD: relink it there, the next sync brings it back"
            self._skip(t, holder.object_id, name, reason, detail=f"{holder.name}:{holder.target_id}")
            return
        if holder.kind == "link":
            rel = next(r for r in t.relationships if r.name == holder.name)
            if rel.name == "members" and dynamic_members(t, stored.object):
                return
            if rel.name == "scopedRoleMembers":
                self._skip(t, holder.object_id, name, SCOPED_ROLE_REASON, detail=rel.name)
            else:
                self._link(Operation.ADD_LINK, t, holder.object_id, name, rel, holder.target_id)
            return
        top = holder.name.split(".")[0]
        source = stored.object if restoring else (live.object or {})
        key = f"patch:{t.name}:{holder.object_id}"
        base = dict((self.actions[key].body or {}) if key in self.actions else {})
        current = {top: base.get(top, source.get(top))}
        body = {**base, **with_value_at(current, holder.name, holder.target_id)}
        change = PropertyChange(holder.name, values_at(current, holder.name), values_at(body, holder.name))
        self._patch(t, stored, name, {top: body[top]}, [change])

    async def _check_link_targets(self) -> None:
        """Read the targets of new links: a member that is gone and not in the plan cannot be linked."""
        links = [a for a in self.actions.values() if a.operation is Operation.ADD_LINK and a.target_id]
        targets = [ObjectRef(a.target_type or "", a.target_id or "") for a in links if a.target_type]
        await self._fetch([r for r in targets if r.object_id not in self.creators])
        for action in links:
            target = action.target_id or ""
            if target in self.creators:
                continue
            live = self.seen.get(f"{action.target_type}/{target}")
            if live is None or live.presence is Presence.PRESENT:
                continue
            where = "is in the recycle bin" if live.presence is Presence.DELETED else "no longer exists"
            self.actions[action.key] = replace(
                action,
                operation=Operation.SKIP,
                risk=Risk.LOW,
                reason=f"{action.target_type} {self._name_of(action.target_type or '', target)} {where}: "
                "add it to the selection to bring it back with its links",
            )

    # --- ordering -------------------------------------------------------------------------------------

    def _with_dependencies(self, actions: list[Action]) -> list[Action]:
        out: list[Action] = []
        for action in actions:
            if action.operation is Operation.SKIP:
                out.append(replace(action, depends_on=()))
                continue
            needed = {self.creators.get(action.object_id), self.creators.get(action.target_id or "")}
            needed |= {self.creators.get(value) for value in _strings(action.body)}
            if action.object_type == "servicePrincipal" and action.operation is Operation.RECREATE:
                needed |= self._app_creator(action)
            deps = sorted(d for d in needed if d and d != action.key and d in self.actions)
            out.append(replace(action, depends_on=tuple(d for d in deps if not d.startswith("skip:"))))
        return out

    def _app_creator(self, action: Action) -> set[str | None]:
        app_id = (action.body or {}).get("appId")
        found: set[str | None] = set()
        for object_id, type_name in self.recreated.items():
            if type_name == "application":
                app = self.reader.get("application", object_id)
                if app is not None and app.object.get("appId") == app_id:
                    found.add(self.creators.get(object_id))
        return found

    def _ordered(self, actions: list[Action]) -> list[Action]:
        creates = [a for a in actions if a.operation in _CREATES]
        creates = _topological(creates)
        rest = sorted((a for a in actions if a.operation not in _CREATES), key=_sort_key)
        return creates + rest


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


def _warning_order(warning: PlanWarning) -> tuple[str, str, str, str]:
    return (warning.code, warning.object_type or "", warning.object_id or "", warning.message)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def _unique_props(type_name: str, presence: Presence) -> tuple[str, ...]:
    if type_name == "user":
        return (
            ("userPrincipalName",) if presence is Presence.DELETED else ("userPrincipalName", "mailNickname")
        )
    if type_name == "group" and presence is Presence.ABSENT:
        return ("mailNickname",)
    return ()


def _privileged(obj: dict[str, Any] | None) -> bool:
    return bool(obj and obj.get("isAssignableToRole"))


def _risk(t: ObjectType, op: Operation, obj: dict[str, Any]) -> Risk:
    if t.name in ("unifiedRoleAssignment", "unifiedRoleEligibilitySchedule"):
        return Risk.CRITICAL
    if t.name == "conditionalAccessPolicy" or t.name in _HIGH_TYPES or _privileged(obj):
        return Risk.HIGH
    if t.name in _MEDIUM_TYPES:
        return Risk.MEDIUM
    return Risk.LOW


def _patch_risk(t: ObjectType, obj: dict[str, Any], body: dict[str, Any]) -> Risk:
    if t.name == "conditionalAccessPolicy" and ("state" in body or "conditions" in body):
        return Risk.CRITICAL  # what an enforced policy applies to, or whether it is enforced
    base = _risk(t, Operation.PATCH, obj)
    if t.name == "user" and "accountEnabled" in body and RISK_ORDER[base] < RISK_ORDER[Risk.MEDIUM]:
        return Risk.MEDIUM  # enabling or disabling sign-in
    return base


def _link_risk(t: ObjectType, stored: StoredObject | None, op: Operation) -> Risk:
    if _privileged(stored.object if stored else None):
        return Risk.CRITICAL
    if t.name in ("administrativeUnit", "servicePrincipal", "application"):
        return Risk.MEDIUM
    return Risk.MEDIUM if op is Operation.REMOVE_LINK else Risk.LOW
