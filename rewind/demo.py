"""``make demo``: start an emulated tenant and show what ``rewind doctor`` sees, with two credentials.

Later issues extend this until it tells the whole story: backup, incident, alert, approval and restore.
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
        with httpx.Client(verify=info["ca_path"]) as admin:
            pem = Path(info["client_certificate_path"]).read_text()
            response = admin.post(
                f"{info['base_url']}/_emulator/apps",
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


def stage_changes(info: dict[str, Any], tenant_id: str) -> list[str]:
    """Through the emulator's admin API, as a person would in the portal."""
    with httpx.Client(verify=info["ca_path"], base_url=info["base_url"]) as admin:
        dump = admin.get(f"/_emulator/tenants/{tenant_id}/dump").json()
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
