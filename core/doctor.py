"""``rewind doctor``: can Rewind reach this tenant, and may it back it up and restore it?"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from core import permissions
from core.errors import RewindError
from core.graph import GraphClient, GraphConfig, GraphError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DoctorReport:
    tenant_id: str
    cloud: str
    authority: str
    graph_url: str
    checks: list[Check] = field(default_factory=list)
    granted_permissions: list[str] = field(default_factory=list)
    missing_backup: list[dict[str, str]] = field(default_factory=list)
    missing_restore: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Healthy for backup: every check passed and nothing backup needs is missing."""
        return all(c.ok for c in self.checks) and not self.missing_backup

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


async def diagnose(config: GraphConfig, *, client: GraphClient | None = None) -> DoctorReport:
    endpoints = config.endpoints()
    report = DoctorReport(config.tenant_id, config.cloud, config.authority, endpoints.graph_url)
    report.checks.append(Check("configuration", True, f"app {config.client_id} in tenant {config.tenant_id}"))
    async with client or GraphClient(config) as graph:
        try:
            claims = await graph.token_claims()
        except (GraphError, RewindError) as exc:
            report.checks.append(Check("token", False, str(exc)))
            return report
        report.checks.append(Check("token", True, f"issued for tenant {claims.get('tid', '?')}"))
        roles = sorted(str(r) for r in claims.get("roles", []))
        report.granted_permissions = roles
        report.missing_backup = [_describe(r) for r in permissions.missing(permissions.BACKUP, roles)]
        report.missing_restore = [_describe(r) for r in permissions.missing(permissions.RESTORE, roles)]
        try:
            org = await graph.get("/organization", params={"$select": "id,displayName"})
            names = ", ".join(str(o.get("displayName")) for o in org.get("value", []))
            report.checks.append(Check("graph", True, f"read organization: {names or 'none'}"))
        except GraphError as exc:
            report.checks.append(Check("graph", False, str(exc)))
    return report


def _describe(requirement: permissions.Requirement) -> dict[str, str]:
    return {"permission": requirement.permission, "covers": requirement.covers}
