"""`rewind doctor` end to end: the real CLI in a subprocess against the emulator over HTTPS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core import permissions
from emulator.testing import EmulatorHandle, running_emulator
from tests.cli_helpers import env_for, rewind

BACKUP_ROLES = [r.permission for r in permissions.BACKUP]


@pytest.fixture(scope="module")
def tenant() -> Iterator[EmulatorHandle]:
    with running_emulator(users=60, seed=3) as handle:
        yield handle


def doctor_json(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    result = rewind(env, "doctor", "--json", check=False)
    return result.returncode, json.loads(result.stdout)


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["name"] == name)


def test_full_permissions_with_a_secret(tenant: EmulatorHandle, tmp_path: Path) -> None:
    code, report = doctor_json(env_for(tenant, tmp_path))
    assert code == 0, report
    assert report["ok"] is True
    assert report["tenant_id"] == tenant.tenant_id
    assert report["graph_url"] == tenant.graph_url
    assert report["missing_backup"] == [] and report["missing_restore"] == []
    assert {"Directory.Read.All", "Policy.Read.All", "AuditLog.Read.All"} <= set(
        report["granted_permissions"]
    )
    assert check(report, "graph")["ok"] is True


def test_read_only_certificate_app_lists_what_restore_lacks(tenant: EmulatorHandle, tmp_path: Path) -> None:
    assert tenant.client_certificate_path is not None
    pem = Path(tenant.client_certificate_path).read_text()
    client_id = tenant.register_app(roles=BACKUP_ROLES, certificate_pem=pem)
    env = env_for(
        tenant,
        tmp_path,
        REWIND_CLIENT_ID=client_id,
        REWIND_CLIENT_SECRET=None,
        REWIND_CLIENT_CERTIFICATE=tenant.client_certificate_path,
    )
    code, report = doctor_json(env)
    assert code == 0
    assert report["missing_backup"] == []
    missing_restore = {m["permission"] for m in report["missing_restore"]}
    assert {
        "User.ReadWrite.All",
        "Policy.ReadWrite.ConditionalAccess",
        "Application.ReadWrite.All",
    } <= missing_restore
    human = rewind(env, "doctor")
    assert "Missing for restore" in human.stdout and "User.ReadWrite.All" in human.stdout


def test_missing_backup_permission_fails_and_names_it(tenant: EmulatorHandle, tmp_path: Path) -> None:
    client_id = tenant.register_app(
        roles=["Policy.Read.All", "AuditLog.Read.All"], client_secret="partial-secret-1"
    )
    env = env_for(tenant, tmp_path, REWIND_CLIENT_ID=client_id, REWIND_CLIENT_SECRET="partial-secret-1")
    code, report = doctor_json(env)
    assert code == 1
    assert report["ok"] is False
    assert "Directory.Read.All" in {m["permission"] for m in report["missing_backup"]}
    graph = check(report, "graph")
    assert graph["ok"] is False
    assert "\n" not in graph["detail"] and "permission" in graph["detail"].lower()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"REWIND_CLIENT_SECRET": "wrong-secret"}, "REWIND_CLIENT_SECRET"),
        ({"REWIND_TENANT_ID": "11111111-2222-4333-8444-555555555555"}, "REWIND_TENANT_ID"),
        ({"REWIND_CLIENT_ID": "99999999-2222-4333-8444-555555555555"}, "REWIND_CLIENT_ID"),
        (
            {
                "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
                "REQUESTS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
            },
            "SSL_CERT_FILE",
        ),
        (
            {"REWIND_AUTHORITY_HOST": "https://127.0.0.1:9", "REWIND_GRAPH_URL": "https://127.0.0.1:9"},
            "127.0.0.1:9",
        ),
    ],
    ids=["wrong-secret", "unknown-tenant", "unknown-app", "untrusted-certificate", "unreachable-host"],
)
def test_token_problems_are_one_clear_line(
    tenant: EmulatorHandle, tmp_path: Path, overrides: dict[str, str], expected: str
) -> None:
    code, report = doctor_json(env_for(tenant, tmp_path, **overrides))
    assert code == 1
    token = check(report, "token")
    assert token["ok"] is False
    assert expected in token["detail"]
    assert "\n" not in token["detail"]
    assert "wrong-secret" not in json.dumps(report)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"REWIND_TENANT_ID": "not a tenant"}, "error: REWIND_TENANT_ID must be the tenant's GUID"),
        (
            {"REWIND_CLIENT_SECRET": None},
            "error: no credential: set REWIND_CLIENT_SECRET or REWIND_CLIENT_CERTIFICATE",
        ),
        ({"REWIND_CLOUD": "mars"}, "error: REWIND_CLOUD"),
    ],
)
def test_bad_configuration_is_one_line_on_stderr(
    tenant: EmulatorHandle, tmp_path: Path, overrides: dict[str, str | None], expected: str
) -> None:
    result = rewind(env_for(tenant, tmp_path, **overrides), "doctor", check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected)


def test_secret_never_printed(tenant: EmulatorHandle, tmp_path: Path) -> None:
    env = env_for(tenant, tmp_path, REWIND_LOG_LEVEL="DEBUG")
    result = rewind(env, "doctor", "--json")
    assert tenant.client_secret not in result.stdout + result.stderr
