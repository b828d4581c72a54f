"""``make demo``: start an emulated tenant and show what ``rewind doctor`` sees, with two credentials.

Later issues extend this until it tells the whole story: backup, incident, alert, approval and restore.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.rule import Rule

from core import permissions

console = Console()
DEMO_USERS = 500


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def emulated_tenant(workdir: Path) -> Iterator[dict[str, Any]]:
    info_file = workdir / "emulator.json"
    cmd = [
        sys.executable,
        "-m",
        "rewind.cli",
        "emulator",
        "--tls",
        "--port",
        str(free_port()),
        "--users",
        str(DEMO_USERS),
        "--seed",
        "7",
        "--state-dir",
        str(workdir),
        "--info-file",
        str(info_file),
    ]
    log = (workdir / "emulator.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - our own CLI
    try:
        deadline = time.monotonic() + 120
        while not info_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the emulator did not start; see {workdir / 'emulator.log'}")
            time.sleep(0.2)
        yield json.loads(info_file.read_text())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def rewind(*args: str, env: dict[str, str]) -> int:
    console.print(f"[bold cyan]$ rewind {' '.join(args)}[/]", highlight=False)
    return subprocess.call([sys.executable, "-m", "rewind.cli", *args], env=env)  # noqa: S603


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rewind-demo-") as tmp, emulated_tenant(Path(tmp)) as info:
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

        console.print(Rule("6. Someone makes changes"))
        changes = stage_changes(info, tenant["tenant_id"])
        for line in changes:
            console.print(f"  - {line}", highlight=False)

        console.print(Rule("7. The next backup reads only what changed"))
        rewind("backup", env=cert_env)
        rewind("snapshots", env=cert_env)
        rewind("verify", env=cert_env)


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
