"""How people name what a finding is about: "'Require MFA for admins'", "Global Administrator to Bob Lee
(bob@contoso.com)", "25 users", rather than object ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from core.alerts.finding import Finding
from core.diff.model import Change
from core.errors import RewindError
from core.registry import object_type
from core.snapshots import SnapshotReader

# Built-in directory roles by template id (the same id as the role definition's), for roles a snapshot
# may not hold a definition of.
ROLE_NAMES = {
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13": "Privileged Authentication Administrator",
    "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": "Conditional Access Administrator",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
    "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
    "29232cdf-9323-42fd-ade2-1d097af3e4de": "Exchange Administrator",
    "f28a1f50-f6e7-4571-818b-6a12f2af6b6c": "SharePoint Administrator",
    "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2": "Hybrid Identity Administrator",
    "c4e39bd9-1100-46d3-8c65-fb160da0071f": "Authentication Administrator",
    "3a2c62db-5318-420d-8d74-23affee5d9d5": "Intune Administrator",
    "729827e3-9c14-49f7-bb1b-9608f156bbb8": "Helpdesk Administrator",
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451": "Global Reader",
}
_ROLE_TYPES = ("unifiedRoleAssignment", "unifiedRoleEligibilitySchedule")
_PRINCIPAL_TYPES = ("user", "group", "servicePrincipal")


class Namer:
    """Display names from the snapshots' manifest entries (no object records are read)."""

    def __init__(self, readers: Sequence[SnapshotReader]) -> None:
        self.readers = readers

    def name(self, type_name: str, object_id: str) -> tuple[str | None, str | None]:
        for reader in self.readers:
            entry = reader.entry(type_name, object_id)
            if entry is not None:
                return entry.name, entry.principal
        return None, None

    def principal(self, object_id: str) -> str:
        for type_name in _PRINCIPAL_TYPES:
            name, principal = self.name(type_name, object_id)
            if name or principal:
                if type_name == "user" and name and principal:
                    return f"{name} ({principal})"
                return name or principal or object_id
        return object_id

    def role(self, role_id: str) -> str:
        known = ROLE_NAMES.get(role_id.casefold())
        if known:
            return known
        name, _ = self.name("unifiedRoleDefinition", role_id)
        return name or role_id


def type_title(type_name: str) -> str:
    try:
        return object_type(type_name).title
    except RewindError:
        return type_name


def subject(change: Change, namer: Namer) -> str:
    obj = change.after if change.after is not None else (change.before or {})
    if change.type in _ROLE_TYPES:
        role = namer.role(str(obj.get("roleDefinitionId") or change.display_name or "a role"))
        text = f"{role} to {namer.principal(str(obj.get('principalId') or ''))}"
        scope = obj.get("directoryScopeId")
        return text if scope in (None, "", "/") else f"{text} (scope {scope})"
    if change.type == "oauth2PermissionGrant":
        client = namer.name("servicePrincipal", str(obj.get("clientId") or ""))[0] or obj.get("clientId")
        resource = namer.name("servicePrincipal", str(obj.get("resourceId") or ""))[0] or "an API"
        return f"'{client}' ({resource}: {str(obj.get('scope') or '').strip() or 'no scopes'})"
    if change.type == "appRoleAssignment":
        who = obj.get("principalDisplayName") or obj.get("principalId")
        return f"{who} in '{obj.get('resourceDisplayName')}'"
    try:
        if object_type(change.type).singleton:
            return f"the {object_type(change.type).title}"
    except RewindError:
        pass
    if change.type == "user":
        _, principal = namer.name("user", change.id)
        principal = principal or obj.get("userPrincipalName")
        if change.display_name and principal:
            return f"'{change.display_name}' ({principal})"
    return f"'{change.display_name}'" if change.display_name else change.id


def label(finding: Finding, namer: Namer) -> Finding:
    if finding.mass:
        text = f"{len(finding.changes)} {type_title(finding.object_type)}"
    else:
        text = subject(finding.change, namer)
    return replace(finding, subject=text)
