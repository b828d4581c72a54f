"""``make demo``: the whole story on an emulated tenant, from ``rewind doctor`` to a two-person restore.

Credentials, a full backup, changes by a named person, an incremental backup, the diff, the alert and the
daily summary; then an incident, its alert, a restore plan, a refused self-approval, a colleague's approval,
the restore with its verification and the audit trail; then the same incident handled from Slack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.rule import Rule

from core import permissions
from rewind.demo_slack import run_slack_demo
from rewind.emulated import emulator_process

console = Console()
DEMO_USERS = 500


def rewind(*args: str, env: dict[str, str]) -> int:
    console.print(f"[bold cyan]$ rewind {' '.join(args)}[/]", highlight=False)
    return subprocess.call([sys.executable, "-m", "rewind.cli", *args], env=env)  # noqa: S603


def capture(*args: str, env: dict[str, str]) -> Any:
    """Run a command quietly with --json, for the ids the next steps need."""
    command = [sys.executable, "-m", "rewind.cli", *args, "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)  # noqa: S603
    return json.loads(done.stdout)


def main() -> None:
    with (
        tempfile.TemporaryDirectory(prefix="rewind-demo-") as tmp,
        emulator_process(Path(tmp), users=DEMO_USERS, seed=7) as info,
    ):
        tenant = info["tenants"][0]
        console.print(Rule("1. An emulated Entra ID tenant"))
        console.print(
            f"Graph emulator at {info['graph_url']} with {tenant['users']} users in "
            f"{tenant['domain']} ({tenant['tenant_id']}), HTTPS from its own CA."
        )
        env = {
            **os.environ,
            "REWIND_DATA_DIR": str(Path(tmp) / "data"),
            "REWIND_TENANT_ID": tenant["tenant_id"],
            "REWIND_CLIENT_ID": info["client_id"],
            "REWIND_CLIENT_SECRET": info["client_secret"],
            "REWIND_GRAPH_URL": info["graph_url"],
            "REWIND_AUTHORITY_HOST": info["authority_host"],
            "SSL_CERT_FILE": info["ca_path"],
            "REQUESTS_CA_BUNDLE": info["ca_path"],
        }
        console.print(Rule("2. The restore-capable app, with a client secret"))
        rewind("doctor", env=env)

        console.print(Rule("3. A read-only backup app, with a certificate"))
        console.print("Day to day Rewind only needs to read; restores can use a second, separate credential.")
        backup_only = [r.permission for r in permissions.BACKUP]
        with admin_client(info) as admin:
            pem = Path(info["client_certificate_path"]).read_text()
            response = admin.post(
                "/_emulator/apps",
                json={
                    "tenant_id": tenant["tenant_id"],
                    "roles": backup_only,
                    "certificate_pem": pem,
                    "display_name": "Rewind backup (read-only)",
                },
            )
            response.raise_for_status()
            client_id = response.json()["client_id"]
        cert_env = {k: v for k, v in env.items() if k != "REWIND_CLIENT_SECRET"}
        cert_env |= {
            "REWIND_CLIENT_ID": client_id,
            "REWIND_CLIENT_CERTIFICATE": info["client_certificate_path"],
        }
        rewind("doctor", env=cert_env)

        console.print(Rule("4. A mistake, reported in one line"))
        rewind("doctor", env={**env, "REWIND_CLIENT_SECRET": "not-the-secret"})

        console.print(Rule("5. The first backup: full, into a local repository"))
        cert_env["REWIND_REPOSITORY_PASSPHRASE"] = "demo passphrase: use a long one"
        rewind("backup", env=cert_env)
        console.print("The security team approves this state as the baseline drift is measured from.")
        first = capture("snapshots", env=cert_env)[0]["id"]
        rewind("baseline", "set", first, env=cert_env)

        console.print(Rule("6. Someone makes changes"))
        changes = stage_changes(info, tenant["tenant_id"])
        for line in changes:
            console.print(f"  - {line}", highlight=False)

        console.print(Rule("7. The next backup reads only what changed"))
        rewind("backup", env=cert_env)
        rewind("snapshots", env=cert_env)
        rewind("verify", env=cert_env)

        console.print(Rule("8. What changed, and who did it"))
        rewind("diff", first, "latest", env=cert_env)

        console.print(Rule("9. The alert a subscribed channel receives"))
        console.print("Rendered from the chat-agnostic message model; Slack and Teams draw the same message.")
        rewind("alerts", "check", first, "latest", env=cert_env)

        console.print(Rule("10. The daily drift summary"))
        rewind("summary", env=cert_env)

        restore_story(info, tenant["tenant_id"], cert_env)


def restore_story(info: dict[str, Any], tenant_id: str, backup_env: dict[str, str]) -> None:
    """An incident, its alert, and a restore that only runs once a second person approves it."""
    people = demo_people(info, tenant_id)
    (_, responder), (_, colleague), (_, lead) = people
    # Restores write with their own app registration; the backup app above stays read-only.
    env = {
        **backup_env,
        "REWIND_RESTORE_CLIENT_ID": info["client_id"],
        "REWIND_RESTORE_CLIENT_SECRET": info["client_secret"],
        "REWIND_APPROVERS": f"{responder},{colleague},{lead}",
    }
    console.print(Rule("11. An incident: a security group named by a Conditional Access policy is purged"))
    for line in purge_policy_group(info, tenant_id, actor=colleague):
        console.print(f"  - {line}", highlight=False)
    before = capture("snapshots", env=env)[0]["id"]
    rewind("backup", env=env)

    console.print(Rule("12. The alert"))
    rewind("alerts", "check", before, "latest", env=env)

    console.print(Rule("13. What a restore would do, before anyone approves it"))
    rewind("restore", "plan", "deleted", "since", "1h", "--from", before, env=env)

    console.print(Rule(f"14. {responder} asks for the restore"))
    request = capture(
        "restore", "request", "deleted", "since", "1h", "--from", before, "--as", responder, env=env
    )
    request_id = str(request["id"])
    console.print(f"Request {request_id[:8]}: {request['summary']}", highlight=False)

    console.print(Rule("15. Approving your own request is refused"))
    rewind("restore", "approve", request_id, "--as", responder, env=env)

    console.print(Rule(f"16. {colleague} approves"))
    console.print("The plan rewrites Conditional Access policies, so it needs two approvers besides you.")
    rewind("restore", "approve", request_id, "--as", colleague, env=env)

    console.print(Rule(f"17. {lead} approves too: the restore runs and is verified"))
    rewind("restore", "approve", request_id, "--as", lead, env=env)

    console.print(Rule("18. Back as it was: the group under a new id, and the policies naming it again"))
    rewind("backup", env=env)
    rewind("diff", before, "latest", env=env)

    console.print(Rule("19. The audit trail, hash-chained and written once to the store"))
    rewind("audit", "--verify", env=env)

    console.print(Rule("20. The same, from Slack (a local stand-in for Slack's Web API)"))
    run_slack_demo(env, lambda: purge_policy_group(info, tenant_id, actor=colleague), people)


def admin_client(info: dict[str, Any]) -> httpx.Client:
    """The emulator's admin API (dumps and staged incidents), over its own TLS certificate."""
    return httpx.Client(verify=info["ca_path"], base_url=info["base_url"])


def tenant_dump(admin: httpx.Client, tenant_id: str) -> dict[str, Any]:
    dump: dict[str, Any] = admin.get(f"/_emulator/tenants/{tenant_id}/dump").json()
    return dump


def demo_people(info: dict[str, Any], tenant_id: str) -> list[tuple[str, str]]:
    """(name, UPN) of the one on call and two colleagues who may approve restores."""
    with admin_client(info) as admin:
        dump = tenant_dump(admin, tenant_id)
    cloud = sorted(
        (u["userPrincipalName"], u["displayName"])
        for u in dump["objects"]["users"].values()
        if not u.get("onPremisesSyncEnabled") and u.get("accountEnabled")
    )
    return [(name, upn) for upn, name in cloud[:3]]


def purge_policy_group(info: dict[str, Any], tenant_id: str, *, actor: str) -> list[str]:
    """Delete a security group that a Conditional Access policy names, then purge it from the recycle bin."""
    with admin_client(info) as admin:
        dump = tenant_dump(admin, tenant_id)
        groups = dump["objects"]["groups"]
        named = sorted(
            {
                (policy["displayName"], group_id)
                for policy in dump["objects"]["conditionalAccessPolicies"].values()
                for key in ("includeGroups", "excludeGroups")
                for group_id in policy["conditions"]["users"].get(key) or []
                if group_id in groups and dump["members"].get(group_id)
            }
        )
        policy_name, group_id = named[0]

        def act(method: str, path: str) -> None:
            payload = {"method": method, "path": path, "actor": {"userPrincipalName": actor}}
            admin.post(f"/_emulator/tenants/{tenant_id}/act", json=payload).raise_for_status()

        act("DELETE", f"/groups/{group_id}")
        act("DELETE", f"/directory/deletedItems/{group_id}")
    group = groups[group_id]["displayName"]
    members = len(dump["members"][group_id])
    return [
        f"{actor} deleted the group '{group}' ({members} members), which '{policy_name}' names",
        f"{actor} purged it from the recycle bin: Entra ID can no longer bring it back",
    ]


def stage_changes(info: dict[str, Any], tenant_id: str) -> list[str]:
    """Through the emulator's admin API, as a person would in the portal."""
    with admin_client(info) as admin:
        dump = tenant_dump(admin, tenant_id)
        users = sorted(dump["objects"]["users"].values(), key=lambda u: u["userPrincipalName"])
        policies = sorted(
            dump["objects"]["conditionalAccessPolicies"].values(), key=lambda p: p["displayName"]
        )
        actor = users[0]["userPrincipalName"]

        def act(method: str, path: str, body: Any = None) -> None:
            payload = {"method": method, "path": path, "body": body, "actor": {"userPrincipalName": actor}}
            admin.post(f"/_emulator/tenants/{tenant_id}/act", json=payload).raise_for_status()

        act("PATCH", f"/users/{users[10]['id']}", {"jobTitle": "Chief Everything Officer"})
        act("DELETE", f"/users/{users[11]['id']}")
        enabled = next(p for p in policies if p["state"] == "enabled")
        act("PATCH", f"/identity/conditionalAccess/policies/{enabled['id']}", {"state": "disabled"})
    return [
        f"{actor} changed the job title of {users[10]['userPrincipalName']}",
        f"{actor} deleted {users[11]['userPrincipalName']}",
        f"{actor} disabled the Conditional Access policy '{enabled['displayName']}'",
    ]


if __name__ == "__main__":
    main()
