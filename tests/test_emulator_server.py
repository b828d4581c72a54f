"""The emulator's server over a real TLS socket: Entra token endpoint (MSAL), Graph auth, permissions,
throttling, faults, latency, $batch, the admin API and ``serve()``."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import msal
import pytest
import requests
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from emulator import permissions
from emulator.config import EmulatorConfig
from emulator.state import DEFAULT_APP_NAME
from emulator.testing import EmulatorAdminError, EmulatorHandle, running_emulator
from emulator.tokens import SigningKey

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
MISSING_ID = "00000000-0000-0000-0000-0000000000ff"


class FakeClock:
    """Throttling time: frozen unless a test moves it."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


CLOCK = FakeClock()
BASELINE = EmulatorConfig.for_tests()


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with running_emulator(users=20, seed=3, clock=CLOCK) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _fresh_limits(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "emu" in request.fixturenames:
        emu: EmulatorHandle = request.getfixturevalue("emu")
        emu.configure(**BASELINE.model_dump(mode="json"))
        CLOCK.now += 3600  # every bucket is full again


@pytest.fixture(scope="module")
def http(emu: EmulatorHandle) -> Iterator[httpx.Client]:
    assert emu.ca_path
    with httpx.Client(
        verify=ssl.create_default_context(cafile=emu.ca_path), trust_env=False, timeout=30
    ) as c:
        yield c


def msal_session(emu: EmulatorHandle) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE must not override our CA
    session.verify = emu.ca_path
    return session


def msal_app(
    emu: EmulatorHandle, credential: Any, *, client_id: str | None = None, tenant: str | None = None
) -> Any:
    return msal.ConfidentialClientApplication(
        client_id or emu.client_id,
        client_credential=credential,
        authority=f"{emu.authority_host}/{tenant or emu.tenant_id}",
        instance_discovery=False,
        http_client=msal_session(emu),
    )


def get_token(
    http: httpx.Client,
    emu: EmulatorHandle,
    *,
    client_id: str | None = None,
    secret: str | None = None,
    tenant: str | None = None,
    scope: str = GRAPH_SCOPE,
) -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id or emu.client_id,
        "client_secret": secret or emu.client_secret,
        "scope": scope,
    }
    return http.post(f"{emu.base_url}/{tenant or emu.tenant_id}/oauth2/v2.0/token", data=form)


def bearer(http: httpx.Client, emu: EmulatorHandle, **kw: Any) -> dict[str, str]:
    response = get_token(http, emu, **kw)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def graph(
    http: httpx.Client, emu: EmulatorHandle, method: str, path: str, headers: dict[str, str], **kw: Any
) -> httpx.Response:
    return http.request(method, f"{emu.graph_url}/v1.0{path}", headers=headers, **kw)


def cloud_user_ids(emu: EmulatorHandle) -> list[str]:
    """Users mastered in the cloud (synced ones refuse most writes, as in Entra)."""
    status, body = emu.act("GET", "/users?$select=id,onPremisesSyncEnabled&$top=999")
    assert status == 200
    return [u["id"] for u in body["value"] if not u.get("onPremisesSyncEnabled")]


def some_user_id(http: httpx.Client, emu: EmulatorHandle, headers: dict[str, str]) -> str:
    return cloud_user_ids(emu)[-1]


# Entra: the token endpoint, through MSAL unchanged


def test_msal_gets_a_token_with_a_secret_over_tls(emu: EmulatorHandle) -> None:
    result = msal_app(emu, emu.client_secret).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer" and result["expires_in"] > 3000
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["iss"] == f"https://sts.windows.net/{emu.tenant_id}/"
    assert claims["tid"] == emu.tenant_id and claims["appid"] == emu.client_id
    assert claims["idtyp"] == "app" and claims["app_displayname"] == DEFAULT_APP_NAME
    assert set(permissions.ALL_SECTION_6) <= set(claims["roles"])
    assert claims["oid"] == claims["sub"]
    assert claims["exp"] > claims["iat"] >= claims["nbf"] - 1
    assert jwt.get_unverified_header(result["access_token"])["kid"] == emu.state.signing_key.kid


def _certificate_parts(pem_path: str) -> tuple[str, str, str]:
    pem = Path(pem_path).read_text()
    key = pem[: pem.index("-----BEGIN CERTIFICATE-----")]
    cert = pem[pem.index("-----BEGIN CERTIFICATE-----") :]
    sha1 = x509.load_pem_x509_certificate(cert.encode()).fingerprint(hashes.SHA1()).hex()
    return key, cert, sha1


def test_msal_gets_a_token_with_the_client_certificate(emu: EmulatorHandle) -> None:
    assert emu.client_certificate_path
    key, cert, thumbprint = _certificate_parts(emu.client_certificate_path)
    assert "PRIVATE KEY" in key
    for credential in (
        {"private_key": key, "thumbprint": thumbprint, "public_certificate": cert},  # RS256, x5t
        {"private_key": key, "public_certificate": cert},  # PS256, x5t#S256
    ):
        result = msal_app(emu, credential).acquire_token_for_client(scopes=[GRAPH_SCOPE])
        assert "access_token" in result, result
        claims = jwt.decode(result["access_token"], options={"verify_signature": False})
        assert claims["appidacr"] == "2"


def test_a_second_app_registered_with_a_certificate(emu: EmulatorHandle, http: httpx.Client) -> None:
    assert emu.client_certificate_path
    pem = Path(emu.client_certificate_path).read_text()  # key + cert: the key must be ignored
    client_id = emu.register_app(roles=["Directory.Read.All"], certificate_pem=pem)
    key, cert, thumbprint = _certificate_parts(emu.client_certificate_path)
    credential = {"private_key": key, "thumbprint": thumbprint, "public_certificate": cert}
    result = msal_app(emu, credential, client_id=client_id).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["Directory.Read.All"] and claims["appid"] == client_id


def test_token_errors_carry_entra_codes(emu: EmulatorHandle, http: httpx.Client) -> None:
    wrong = msal_app(emu, "not-the-secret").acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert wrong["error"] == "invalid_client" and wrong["error_codes"] == [7000215]
    assert "not-the-secret" not in json.dumps(wrong)
    unknown = msal_app(emu, "x", client_id=MISSING_ID).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert unknown["error"] == "unauthorized_client" and unknown["error_codes"] == [700016]
    scope = msal_app(emu, emu.client_secret).acquire_token_for_client(
        scopes=["https://elsewhere.example/.default"]
    )
    assert scope["error"] == "invalid_scope" and scope["error_codes"] == [70011]
    assert get_token(http, emu, scope="User.Read").json()["error_codes"] == [70011]


def test_unknown_tenant_fails_discovery_with_90002(emu: EmulatorHandle, http: httpx.Client) -> None:
    response = http.get(f"{emu.base_url}/nowhere.example/v2.0/.well-known/openid-configuration")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_tenant" and body["error_codes"] == [90002]
    assert body["error_description"].startswith("AADSTS90002: Tenant 'nowhere.example' not found.")
    with pytest.raises(ValueError):
        msal_app(emu, emu.client_secret, tenant="nowhere.example")
    assert get_token(http, emu, tenant="nowhere.example").json()["error_codes"] == [90002]


def test_discovery_by_domain_points_at_the_tenant_id(emu: EmulatorHandle, http: httpx.Client) -> None:
    document = http.get(f"{emu.base_url}/{emu.domain}/v2.0/.well-known/openid-configuration").json()
    assert document["token_endpoint"] == f"{emu.base_url}/{emu.tenant_id}/oauth2/v2.0/token"
    assert document["issuer"] == f"{emu.base_url}/{emu.tenant_id}/v2.0"
    keys = http.get(document["jwks_uri"]).json()["keys"]
    assert [k["kid"] for k in keys] == [emu.state.signing_key.kid]
    result = msal_app(emu, emu.client_secret, tenant=emu.domain).acquire_token_for_client(
        scopes=[GRAPH_SCOPE]
    )
    assert "access_token" in result


def test_an_unregistered_certificate_is_refused_with_700027(emu: EmulatorHandle) -> None:
    stranger = trustme.CA().issue_cert("stranger.invalid", key_type=trustme.KeyType.RSA)
    cert = stranger.cert_chain_pems[0].bytes().decode()
    credential = {"private_key": stranger.private_key_pem.bytes().decode(), "public_certificate": cert}
    result = msal_app(emu, credential).acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert result["error"] == "invalid_client" and result["error_codes"] == [700027]


def test_assertion_with_the_wrong_audience_is_refused(emu: EmulatorHandle, http: httpx.Client) -> None:
    assert emu.client_certificate_path
    key, _, thumbprint = _certificate_parts(emu.client_certificate_path)
    x5t = base64.urlsafe_b64encode(bytes.fromhex(thumbprint)).decode().rstrip("=")
    now = int(time.time())
    claims = {
        "aud": "https://login.example/token",
        "iss": emu.client_id,
        "sub": emu.client_id,
        "exp": now + 600,
    }
    assertion = jwt.encode(claims, key, algorithm="RS256", headers={"x5t": x5t})
    form = {
        "grant_type": "client_credentials",
        "client_id": emu.client_id,
        "scope": GRAPH_SCOPE,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    response = http.post(f"{emu.base_url}/{emu.tenant_id}/oauth2/v2.0/token", data=form)
    assert response.status_code == 401 and response.json()["error_codes"] == [700027]


# Graph: authentication and permissions


def test_graph_refuses_missing_forged_tampered_and_expired_tokens(
    emu: EmulatorHandle, http: httpx.Client
) -> None:
    good = bearer(http, emu)["Authorization"].split()[1]
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["Directory.ReadWrite.All"]
    tampered = ".".join(
        [header, base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("="), signature]
    )
    forged = SigningKey().sign(claims)
    now = time.time()
    expired = emu.state.signing_key.issue(
        tenant_id=emu.tenant_id,
        app_id=emu.client_id,
        app_display_name="x",
        service_principal_id=MISSING_ID,
        roles=["Directory.Read.All"],
        audience="https://graph.microsoft.com",
        now=now - 7200,
        lifetime_s=3599,
        credential="secret",
    )
    for headers, message in (
        ({}, "Access token is empty."),
        ({"Authorization": f"Bearer {forged}"}, "Invalid signature"),
        ({"Authorization": f"Bearer {tampered}"}, "Invalid signature"),
        ({"Authorization": f"Bearer {expired}"}, "expired"),
        ({"Authorization": "Bearer not-a-jwt"}, "malformed"),
    ):
        response = graph(http, emu, "GET", "/users", headers)
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["code"] == "InvalidAuthenticationToken" and message in error["message"]
        assert {"request-id", "client-request-id", "x-ms-resource-unit"} <= set(response.headers)


def test_missing_permission_is_403(emu: EmulatorHandle, http: httpx.Client) -> None:
    client_id = emu.register_app(roles=["User.Read.All", "AuditLog.Read.All"], client_secret="narrow-secret")
    headers = bearer(http, emu, client_id=client_id, secret="narrow-secret")
    assert graph(http, emu, "GET", "/users", headers).status_code == 200
    for method, path in (
        ("GET", "/groups"),
        ("GET", "/auditLogs/signIns"),  # needs Directory.Read.All as well
        ("PATCH", f"/users/{some_user_id(http, emu, headers)}"),
    ):
        response = graph(
            http, emu, method, path, headers, json={"jobTitle": "x"} if method == "PATCH" else None
        )
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "Authorization_RequestDenied"
        assert response.json()["error"]["message"] == "Insufficient privileges to complete the operation."
    assert graph(http, emu, "GET", "/auditLogs/directoryAudits", headers).status_code == 200


@pytest.mark.parametrize(
    ("roles", "method", "path", "allowed"),
    [
        (["Directory.Read.All"], "GET", "/groups/g/members", True),
        (["Group.ReadWrite.All"], "GET", "/groups", True),  # ReadWrite satisfies Read
        (["Directory.Read.All"], "POST", "/groups", False),
        (["GroupMember.ReadWrite.All"], "POST", "/groups/g/members/$ref", True),
        (["Policy.ReadWrite.ConditionalAccess"], "POST", "/identity/conditionalAccess/policies", False),
        (
            ["Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"],
            "POST",
            "/identity/conditionalAccess/policies",
            True,
        ),
        (
            ["RoleManagement.Read.Directory"],
            "GET",
            "/roleManagement/directory/roleEligibilitySchedules",
            True,
        ),
        (["Directory.Read.All"], "GET", "/roleManagement/directory/roleAssignments", False),
        (["AuditLog.Read.All", "Directory.Read.All"], "GET", "/auditLogs/signIns", True),
        (["Directory.Read.All"], "POST", "/directoryObjects/getByIds", True),
        (["User.DeleteRestore.All"], "POST", "/directory/deletedItems/microsoft.graph.user", True),
        (["Group.ReadWrite.All"], "POST", "/groups", True),
    ],
)
def test_permission_map(roles: list[str], method: str, path: str, allowed: bool) -> None:
    assert permissions.satisfied(roles, permissions.requirement(method, path)) is allowed


def test_role_assignable_groups_need_role_management() -> None:
    body = {"displayName": "Admins", "isAssignableToRole": True}
    needed = permissions.requirement("POST", "/groups", body)
    assert not permissions.satisfied(["Group.ReadWrite.All"], needed)
    assert permissions.satisfied(["Group.ReadWrite.All", "RoleManagement.ReadWrite.Directory"], needed)


def test_restore_permission_depends_on_the_deleted_type() -> None:
    def lookup(_: str) -> str:
        return "#microsoft.graph.group"

    needed = permissions.requirement("POST", "/directory/deletedItems/x/restore", None, lookup)
    assert permissions.satisfied(["Group.ReadWrite.All"], needed)
    assert not permissions.satisfied(["User.ReadWrite.All"], needed)


def test_graph_request_reaches_the_directory_with_headers(emu: EmulatorHandle, http: httpx.Client) -> None:
    headers = {**bearer(http, emu), "client-request-id": "my-correlation-id"}
    response = graph(http, emu, "GET", "/users?$top=5&$select=id,displayName", headers)
    assert response.status_code == 200
    assert response.headers["client-request-id"] == "my-correlation-id"
    assert response.headers["x-ms-resource-unit"] == "1"  # 2, -1 for $select; $top<20 floors at 1
    assert response.headers["content-type"].startswith("application/json")
    assert 1 <= len(response.json()["value"]) <= 5
    invalid = graph(
        http, emu, "POST", "/users", {**headers, "Content-Type": "application/json"}, content=b"{nope"
    )
    assert invalid.status_code == 400 and invalid.json()["error"]["code"] == "BadRequest"
    me = graph(http, emu, "GET", "/me", headers)
    assert me.status_code == 400


# Throttling over HTTP


def quotas(ru: int) -> dict[str, Any]:
    return {"ru_quota_small": ru, "ru_quota_medium": ru, "ru_quota_large": ru}


def test_ru_burst_past_quota_gets_429_with_retry_after(emu: EmulatorHandle, http: httpx.Client) -> None:
    headers = bearer(http, emu)
    emu.configure(throttling=quotas(10))
    emu.reset_counters()
    statuses = [graph(http, emu, "GET", "/users", headers) for _ in range(6)]  # 2 RU each
    assert [r.status_code for r in statuses] == [200] * 5 + [429]
    assert "x-ms-throttle-limit-percentage" in statuses[4].headers
    throttled = statuses[5]
    assert throttled.headers["Retry-After"] == "2"
    assert (
        throttled.headers["x-ms-throttle-scope"]
        == f"Tenant_Application/ReadWrite/{emu.client_id}/{emu.tenant_id}"
    )
    assert throttled.headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"
    error = throttled.json()["error"]
    assert error["code"] == "TooManyRequests" and error["innerError"]["code"] == "429"
    totals = emu.counters()["totals"]
    assert totals["throttled"] == 1 and totals["resource_units"] == 10 and totals["items"] > 0
    CLOCK.now += 2
    assert graph(http, emu, "GET", "/users", headers).status_code == 200


def test_write_quota(emu: EmulatorHandle, http: httpx.Client) -> None:
    headers = bearer(http, emu)
    user = some_user_id(http, emu, headers)
    emu.configure(throttling={"app_tenant_write_limit": 2})
    codes = [
        graph(http, emu, "PATCH", f"/users/{user}", headers, json={"jobTitle": f"t{i}"}).status_code
        for i in range(3)
    ]
    assert codes[:2] == [204, 204] and codes[2] == 429
    refused = graph(http, emu, "PATCH", f"/users/{user}", headers, json={"jobTitle": "late"})
    assert refused.headers["x-ms-throttle-information"] == "WriteLimitExceeded"
    assert int(refused.headers["Retry-After"]) > 0
    status, body = emu.act("GET", f"/users/{user}?$select=jobTitle")
    assert status == 200 and body["jobTitle"] == "t1"  # throttled writes never reach the directory
    assert emu.counters()["tenants"][emu.tenant_id][emu.client_id]["writes"] >= 2


def test_conditional_access_allows_one_request_per_second_without_retry_after(
    emu: EmulatorHandle, http: httpx.Client
) -> None:
    headers = bearer(http, emu)
    path = "/identity/conditionalAccess/policies"
    assert graph(http, emu, "GET", path, headers).status_code == 200
    second = graph(http, emu, "GET", path, headers)
    assert second.status_code == 429 and "Retry-After" not in second.headers
    CLOCK.now += 1
    assert graph(http, emu, "GET", path, headers).status_code == 200


def test_reports_allow_five_per_ten_seconds(emu: EmulatorHandle, http: httpx.Client) -> None:
    headers = bearer(http, emu)
    codes = [
        graph(http, emu, "GET", "/auditLogs/directoryAudits?$top=1", headers).status_code for _ in range(6)
    ]
    assert codes == [200] * 5 + [429]
    assert graph(http, emu, "GET", "/auditLogs/directoryAudits", headers).headers["Retry-After"] == "2"


# $batch


def batch(
    http: httpx.Client, emu: EmulatorHandle, headers: dict[str, str], requests_: list[dict[str, Any]]
) -> httpx.Response:
    return graph(http, emu, "POST", "/$batch", headers, json={"requests": requests_})


def test_batch_validation(emu: EmulatorHandle, http: httpx.Client) -> None:
    headers = bearer(http, emu)
    too_many = batch(
        http, emu, headers, [{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]
    )
    assert too_many.status_code == 400 and "20" in too_many.json()["error"]["message"]
    duplicate = batch(http, emu, headers, [{"id": "1", "method": "GET", "url": "/users"}] * 2)
    assert duplicate.status_code == 400 and "unique" in duplicate.json()["error"]["message"]
    no_type = batch(http, emu, headers, [{"id": "1", "method": "POST", "url": "/groups", "body": {"a": 1}}])
    assert no_type.status_code == 400 and "Content-Type" in no_type.json()["error"]["message"]
    cycle = [
        {"id": "1", "method": "GET", "url": "/users", "dependsOn": ["2"]},
        {"id": "2", "method": "GET", "url": "/users", "dependsOn": ["1"]},
    ]
    assert batch(http, emu, headers, cycle).status_code == 400
    assert graph(http, emu, "POST", "/$batch", {}, json={"requests": []}).status_code == 401


def test_batch_depends_on_and_failed_dependency(emu: EmulatorHandle, http: httpx.Client) -> None:
    headers = bearer(http, emu)
    response = batch(
        http,
        emu,
        headers,
        [
            {"id": "missing", "method": "GET", "url": f"/users/{MISSING_ID}"},
            {"id": "after", "method": "GET", "url": "/users?$top=1", "dependsOn": ["missing"]},
            {"id": "alone", "method": "GET", "url": "groups?$top=1"},
        ],
    )
    assert response.status_code == 200
    items = {item["id"]: item for item in response.json()["responses"]}
    assert items["missing"]["status"] == 404
    assert items["after"]["status"] == 424
    assert items["alone"]["status"] == 200 and items["alone"]["body"]["value"]
    assert all("x-ms-resource-unit" in item["headers"] for item in items.values())


def test_batch_order_is_stable_but_not_request_order(emu: EmulatorHandle, http: httpx.Client) -> None:
    headers = bearer(http, emu)
    requests_ = [{"id": str(i), "method": "GET", "url": "/users?$top=1"} for i in range(1, 7)]
    first = [item["id"] for item in batch(http, emu, headers, requests_).json()["responses"]]
    second = [item["id"] for item in batch(http, emu, headers, requests_).json()["responses"]]
    assert first == second and sorted(first) == [r["id"] for r in requests_]
    assert first != [r["id"] for r in requests_]


def test_throttled_batch_item_is_429_inside_an_outer_200(emu: EmulatorHandle, http: httpx.Client) -> None:
    headers = bearer(http, emu)
    emu.configure(throttling=quotas(4))
    emu.reset_counters()
    response = batch(http, emu, headers, [{"id": str(i), "method": "GET", "url": "/users"} for i in range(4)])
    assert response.status_code == 200
    items = response.json()["responses"]
    throttled = [item for item in items if item["status"] == 429]
    assert len(throttled) == 2 and sum(item["status"] == 200 for item in items) == 2
    assert all(int(item["headers"]["Retry-After"]) >= 1 for item in throttled)
    assert throttled[0]["body"]["error"]["code"] == "TooManyRequests"
    usage = emu.counters()["tenants"][emu.tenant_id][emu.client_id]
    assert usage["throttled"] == 2 and usage["batches"] == 1 and usage["requests"] == 4


def test_batch_write_with_content_type(emu: EmulatorHandle, http: httpx.Client) -> None:
    headers = bearer(http, emu)
    user = some_user_id(http, emu, headers)
    item = {
        "id": "w",
        "method": "PATCH",
        "url": f"/users/{user}",
        "headers": {"Content-Type": "application/json"},
        "body": {"jobTitle": "Batched"},
    }
    assert batch(http, emu, headers, [item]).json()["responses"][0]["status"] == 204
    assert emu.act("GET", f"/users/{user}?$select=jobTitle")[1]["jobTitle"] == "Batched"
    # The write is attributed to the app and its service principal in this tenant, as in the audit log.
    claims = jwt.decode(headers["Authorization"].split()[1], options={"verify_signature": False})
    audit = latest_audit(emu)
    assert audit["initiatedBy"]["app"]["appId"] == emu.client_id
    assert audit["initiatedBy"]["app"]["servicePrincipalId"] == claims["oid"]


# Faults and latency


def test_injected_5xx_with_retry_after(emu: EmulatorHandle, http: httpx.Client) -> None:
    headers = bearer(http, emu)
    only_503 = {"error_rate": 1.0, "error_statuses": [503], "retry_after_ratio": 1.0, "retry_after_s": 7}
    emu.configure(faults={"enabled": True, "reset_rate": 0, "slow_rate": 0, **only_503})
    response = graph(http, emu, "GET", "/users", headers)
    assert response.status_code == 503 and response.headers["Retry-After"] == "7"
    assert response.json()["error"]["code"] == "serviceNotAvailable"
    emu.configure(faults={"error_statuses": [500, 502, 504]})
    assert graph(http, emu, "GET", "/users", headers).status_code in (500, 502, 504)


def test_injected_connection_reset(emu: EmulatorHandle, http: httpx.Client) -> None:
    headers = bearer(http, emu)
    emu.reset_counters()
    emu.configure(faults={"enabled": True, "error_rate": 0, "reset_rate": 1.0})
    with pytest.raises(httpx.TransportError):
        graph(http, emu, "GET", "/users", headers)
    assert emu.counters()["totals"]["faults"] == 1
    emu.configure(faults={"enabled": False})
    assert graph(http, emu, "GET", "/users", headers).status_code == 200


def test_latency_and_slow_responses_add_at_least_the_configured_delay(
    emu: EmulatorHandle, http: httpx.Client
) -> None:
    headers = bearer(http, emu)
    emu.configure(latency={"enabled": True, "read_base_s": 0.2, "per_item_s": 0, "jitter_ratio": 0})
    started = time.monotonic()
    graph(http, emu, "GET", "/groups", headers)
    assert time.monotonic() - started >= 0.2
    slow = {"enabled": True, "error_rate": 0, "reset_rate": 0, "slow_rate": 1.0, "slow_extra_s": 0.25}
    emu.configure(latency={"enabled": False}, faults=slow)
    started = time.monotonic()
    assert graph(http, emu, "GET", "/groups", headers).status_code == 200
    assert time.monotonic() - started >= 0.25


# Admin API


def test_info_and_config(emu: EmulatorHandle, http: httpx.Client) -> None:
    info = http.get(f"{emu.base_url}/_emulator/info").json()
    assert info["client_id"] == emu.client_id
    assert info["tenants"][0] == {
        "tenant_id": emu.tenant_id,
        "domain": emu.domain,
        "users": info["tenants"][0]["users"],
    }
    assert info["tenants"][0]["users"] >= 10
    assert emu.client_secret not in json.dumps(info)
    emu.configure(replication_lag_s=0.5, throttling={"enabled": False})
    assert emu.state.config.throttling.enabled is False
    assert all(e.tenant.options.replication_lag_s == 0.5 for e in emu.state.tenants.values())
    bad = http.patch(f"{emu.base_url}/_emulator/config", json={"throttling": {"ru_quota_small": "many"}})
    assert bad.status_code == 400 and "ru_quota_small" in bad.json()["error"]
    with pytest.raises(EmulatorAdminError):
        emu.configure(unknown_knob=1)


def test_act_as_a_person_and_the_admin_app(emu: EmulatorHandle, http: httpx.Client) -> None:
    status, users = emu.act("GET", "/users?$select=id,userPrincipalName&$top=2")
    assert status == 200
    actor = users["value"][0]["userPrincipalName"]
    body = {
        "accountEnabled": True,
        "displayName": "Staged Person",
        "mailNickname": "staged",
        "userPrincipalName": f"staged@{emu.domain}",
        "passwordProfile": {"password": "Passw0rd!Passw0rd!"},
    }
    status, created = emu.act("POST", "/users", body, actor=actor)
    assert status == 201, created
    headers = bearer(http, emu)
    assert graph(http, emu, "GET", f"/users/{created['id']}", headers).status_code == 200
    with pytest.raises(EmulatorAdminError):
        emu.act("GET", "/users", actor=f"nobody@{emu.domain}")


def test_incidents_modify_delete_and_hard_delete(emu: EmulatorHandle, http: httpx.Client) -> None:
    headers = bearer(http, emu)
    first, second = cloud_user_ids(emu)[:2]
    emu.incident("modify", "user", first, patch={"jobTitle": "Changed by incident"})
    assert emu.act("GET", f"/users/{first}?$select=jobTitle")[1]["jobTitle"] == "Changed by incident"
    emu.incident("delete", "user", first)
    assert graph(http, emu, "GET", f"/users/{first}", headers).status_code == 404
    assert graph(http, emu, "GET", f"/directory/deletedItems/{first}", headers).status_code == 200
    result = emu.incident("hard-delete", "users", second)
    assert [step["method"] for step in result["steps"]] == ["DELETE", "DELETE"]
    assert graph(http, emu, "GET", f"/directory/deletedItems/{second}", headers).status_code == 404
    with pytest.raises(EmulatorAdminError, match="404"):
        emu.incident("delete", "user", first)  # already gone: a staged incident never fails silently
    dump = emu.dump()
    assert second not in dump["objects"]["users"] and second not in dump["deleted"]
    assert first in dump["deleted"] and first not in dump["objects"]["users"]


def test_incident_remove_members(emu: EmulatorHandle) -> None:
    dump = emu.dump()
    groups = dump["objects"]["groups"]
    group_id = next(
        gid
        for gid, members in dump["members"].items()
        if gid in groups
        and len(members) >= 2
        and "DynamicMembership" not in (groups[gid].get("groupTypes") or [])
        and not groups[gid].get("onPremisesSyncEnabled")
    )
    members = dump["members"][group_id]
    actor = first_upn(emu)
    result = emu.incident("remove-members", "group", group_id, member_ids=members[:1], actor=actor)
    assert result["status"] == 204, result
    status, listed = emu.act("GET", f"/groups/{group_id}/members?$select=id")
    assert status == 200 and {m["id"] for m in listed["value"]} == set(members[1:])
    assert latest_audit(emu)["initiatedBy"]["user"]["userPrincipalName"] == actor


def first_upn(emu: EmulatorHandle) -> str:
    status, body = emu.act("GET", "/users?$select=userPrincipalName&$top=1")
    assert status == 200
    return str(body["value"][0]["userPrincipalName"])


def latest_audit(emu: EmulatorHandle) -> dict[str, Any]:
    status, body = emu.act("GET", "/auditLogs/directoryAudits?$top=1")
    assert status == 200
    return dict(body["value"][0])


def test_expired_delta_tokens_are_refused(emu: EmulatorHandle, http: httpx.Client) -> None:
    headers = bearer(http, emu)
    url = f"{emu.graph_url}/v1.0/users/delta?$select=id"
    page = http.get(url, headers=headers).json()
    while "@odata.nextLink" in page:
        page = http.get(page["@odata.nextLink"], headers=headers).json()
    delta_link = page["@odata.deltaLink"]
    assert delta_link.startswith(emu.graph_url)
    assert http.get(delta_link, headers=headers).status_code == 200
    emu.expire_delta_tokens()
    assert http.get(delta_link, headers=headers).status_code >= 400


def test_add_a_tenant_and_use_it(emu: EmulatorHandle, http: httpx.Client) -> None:
    added = http.post(f"{emu.base_url}/_emulator/tenants", json={"users": 12, "seed": 99}).json()
    assert added["users"] >= 10
    headers = bearer(http, emu, tenant=added["tenant_id"])
    assert graph(http, emu, "GET", "/users?$top=1", headers).status_code == 200
    claims = jwt.decode(headers["Authorization"].split()[1], options={"verify_signature": False})
    assert claims["tid"] == added["tenant_id"]
    assert http.post(f"{emu.base_url}/_emulator/tenants", json={"users": 12, "seed": 99}).status_code == 409


def test_counters_count_by_status_and_reset(emu: EmulatorHandle, http: httpx.Client) -> None:
    headers = bearer(http, emu)
    emu.reset_counters()
    graph(http, emu, "GET", "/users", headers)
    graph(http, emu, "GET", "/groups", {**headers, "client-request-id": "same"})
    graph(http, emu, "GET", "/groups", {**headers, "client-request-id": "same"})
    graph(http, emu, "GET", f"/users/{MISSING_ID}", headers)
    usage = emu.counters()["tenants"][emu.tenant_id][emu.client_id]
    assert usage["requests"] == 4 and usage["by_status"] == {"200": 3, "404": 1} and usage["retries"] == 1
    emu.reset_counters()
    assert emu.counters()["totals"]["requests"] == 0


# serve()


def test_serve_smoke(tmp_path: Path) -> None:
    info_file = tmp_path / "info.json"
    code = (
        "from pathlib import Path; from emulator.server import serve; "
        f"serve(port=0, users=12, seed=5, state_dir=Path({str(tmp_path)!r}), "
        f"info_file=Path({str(info_file)!r}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    try:
        deadline = time.monotonic() + 60
        while not info_file.exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
            assert time.monotonic() < deadline, "serve() did not write its info file"
            time.sleep(0.1)
        info = json.loads(info_file.read_text())
        expected = "base_url graph_url authority_host ca_path tenants client_id client_secret"
        assert "client_certificate_path" in info
        assert set(info) >= set(expected.split())
        assert info["base_url"].startswith("https://127.0.0.1:")
        assert Path(info["ca_path"]) == tmp_path / "emulator-ca.pem"
        assert "PRIVATE KEY" in Path(info["client_certificate_path"]).read_text()
        verify = ssl.create_default_context(cafile=info["ca_path"])
        with httpx.Client(verify=verify, trust_env=False) as client:
            tenant = info["tenants"][0]["tenant_id"]
            form = {
                "grant_type": "client_credentials",
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
                "scope": f"{info['graph_url']}/.default",
            }
            token = client.post(f"{info['authority_host']}/{tenant}/oauth2/v2.0/token", data=form).json()
            users = client.get(
                f"{info['graph_url']}/v1.0/users",
                headers={"Authorization": f"Bearer {token['access_token']}"},
            )
            assert users.status_code == 200
    finally:
        proc.terminate()
        output = proc.communicate(timeout=15)[0].decode()
    assert proc.returncode == 0, output
    assert "SSL_CERT_FILE=" in output and info["client_id"] in output


def test_secrets_stay_out_of_reprs(emu: EmulatorHandle) -> None:
    app = emu.state.apps.get(emu.client_id)
    assert app is not None and app.check_secret(emu.client_secret)
    assert emu.client_secret not in repr(app) + repr(emu) + repr(emu.state)
    digest = hashlib.sha256(emu.client_secret.encode()).hexdigest()
    assert digest not in repr(app)
