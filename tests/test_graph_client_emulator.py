"""GraphClient against the emulator over real sockets and TLS: sign-in, paging, delta, batch, throttling."""

from __future__ import annotations

import asyncio
import socket
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.graph import (
    AuthenticationFailed,
    BatchRequest,
    ClientCertificate,
    ClientSecret,
    DeltaTokenExpired,
    GraphClient,
    GraphConfig,
    GraphError,
    GraphLimiter,
    GraphUnreachable,
    PermissionDenied,
    RetryPolicy,
    UntrustedCertificate,
    merge_delta_entries,
)
from emulator.config import EmulatorConfig
from emulator.testing import EmulatorHandle, running_emulator

USERS = 60  # an M tenant (50-500 users): throttling uses ru_quota_medium
FAST_RETRIES = RetryPolicy(base_s=0.01, cap_s=0.05)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    with running_emulator(users=USERS, seed=3) as handle:
        yield handle


@pytest.fixture
def h(emulator: EmulatorHandle) -> Iterator[EmulatorHandle]:
    emulator.reset_counters()
    yield emulator
    emulator.configure(**EmulatorConfig.for_tests().model_dump(mode="json"))


def config_for(h: EmulatorHandle, **overrides: Any) -> GraphConfig:
    fields: dict[str, Any] = {
        "tenant_id": h.tenant_id,
        "client_id": h.client_id,
        "credential": ClientSecret(h.client_secret),
        "graph_url": h.graph_url,
        "authority_host": h.authority_host,
        "ca_bundle": h.ca_path,
    }
    fields.update(overrides)
    return GraphConfig(**fields)


def client_for(h: EmulatorHandle, *, ru_per_10s: int = 8000, **overrides: Any) -> GraphClient:
    # A private limiter per test: the process-wide one would carry state from earlier tests.
    config = config_for(h, resource_units_per_10s=ru_per_10s, **overrides)
    return GraphClient(config, limiter=GraphLimiter(ru_per_10s), retry=FAST_RETRIES)


def assert_one_line(err: BaseException, *secrets: str) -> None:
    text = str(err)
    assert "\n" not in text and "Traceback" not in text
    assert all(secret not in text for secret in secrets)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- sign-in ---------------------------------------------------------------------------------------------


async def test_msal_over_tls_with_a_secret_despite_a_system_ca_bundle_in_the_environment(
    h: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The system bundle does not hold the emulator's CA: only our explicit verify= makes this work.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    async with client_for(h) as client:
        claims = await client.token_claims()
        org = await client.get("/organization", params={"$select": "id,displayName"})
    assert claims["tid"] == h.tenant_id and claims["appid"] == h.client_id
    assert "Directory.Read.All" in claims["roles"]
    assert org["value"][0]["id"] == h.tenant_id


async def test_msal_over_tls_with_the_certificate(h: EmulatorHandle) -> None:
    assert h.client_certificate_path is not None
    async with client_for(h, credential=ClientCertificate(Path(h.client_certificate_path))) as client:
        claims = await client.token_claims()
        users = await client.get("/users", params={"$top": "1"})
    assert claims["appid"] == h.client_id and len(users["value"]) == 1


async def test_wrong_secret(h: EmulatorHandle) -> None:
    async with client_for(h, credential=ClientSecret("not-the-secret-123")) as client:
        with pytest.raises(AuthenticationFailed) as caught:
            await client.get("/users")
    assert "REWIND_CLIENT_SECRET" in str(caught.value) and "AADSTS7000215" in str(caught.value)
    assert_one_line(caught.value, "not-the-secret-123", h.client_secret)


async def test_unknown_tenant(h: EmulatorHandle) -> None:
    async with client_for(h, tenant_id=str(uuid.uuid4())) as client:
        with pytest.raises(AuthenticationFailed) as caught:
            await client.get("/users")
    assert "check REWIND_TENANT_ID and REWIND_CLOUD" in str(caught.value)
    assert_one_line(caught.value, h.client_secret)


async def test_unknown_client_id(h: EmulatorHandle) -> None:
    async with client_for(h, client_id=str(uuid.uuid4())) as client:
        with pytest.raises(AuthenticationFailed, match="check REWIND_CLIENT_ID") as caught:
            await client.get("/users")
    assert_one_line(caught.value, h.client_secret)


async def test_a_graph_url_the_login_host_does_not_serve_is_a_scope_error(h: EmulatorHandle) -> None:
    async with client_for(h, graph_url=f"https://127.0.0.1:{closed_port()}") as client:
        with pytest.raises(AuthenticationFailed) as caught:
            await client.get("/users")
    assert "AADSTS70011" in str(caught.value) and "REWIND_CLOUD" in str(caught.value)
    assert_one_line(caught.value, h.client_secret)


async def test_missing_permission_names_the_permission(h: EmulatorHandle) -> None:
    client_id = h.register_app(roles=["User.Read.All"], client_secret="narrow-app-secret-1")
    async with client_for(h, client_id=client_id, credential=ClientSecret("narrow-app-secret-1")) as client:
        assert (await client.get("/users", params={"$top": "1"}))["value"]
        with pytest.raises(PermissionDenied) as caught:
            await client.get("/groups")
    text = str(caught.value)
    assert "GET /groups" in text and "grant the application permission" in text and "admin-consent" in text
    assert caught.value.status == 403 and caught.value.request_id
    assert_one_line(caught.value, "narrow-app-secret-1")


async def test_unreachable_graph_and_login_hosts(h: EmulatorHandle) -> None:
    dead = f"https://127.0.0.1:{closed_port()}"
    # Signed in at the live emulator (for its own Graph scope); only the Graph host is down.
    config = config_for(h, graph_url=dead, max_attempts=2)
    graph = GraphClient(config, token_provider=_EmulatorTokens(h), limiter=GraphLimiter(), retry=FAST_RETRIES)
    async with graph as client:
        with pytest.raises(GraphUnreachable) as graph_down:
            await client.get("/users")
    assert dead.removeprefix("https://") in str(graph_down.value) and "REWIND_GRAPH_URL" in str(
        graph_down.value
    )
    assert client.metrics.retries == 1
    async with client_for(h, authority_host=dead) as client:
        with pytest.raises(GraphUnreachable) as login_down:
            await client.get("/users")
    assert "sign-in host" in str(login_down.value) and dead.removeprefix("https://") in str(login_down.value)
    assert_one_line(graph_down.value)
    assert_one_line(login_down.value)


class _EmulatorTokens:
    """A token for the emulator's own Graph scope, fetched with a plain client-credentials POST."""

    def __init__(self, h: EmulatorHandle) -> None:
        self._h = h

    async def access_token(self) -> str:
        async with httpx.AsyncClient(verify=_ca_context(self._h), trust_env=False) as http:
            response = await http.post(
                f"{self._h.authority_host}/{self._h.tenant_id}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._h.client_id,
                    "client_secret": self._h.client_secret,
                    "scope": f"{self._h.graph_url}/.default",
                },
            )
        token: str = response.json()["access_token"]
        return token


def _ca_context(h: EmulatorHandle) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=h.ca_path)


async def test_untrusted_certificate_at_login_and_at_graph(h: EmulatorHandle) -> None:
    async with client_for(h, ca_bundle=None) as client:
        with pytest.raises(UntrustedCertificate) as login:
            await client.get("/users")
    assert "SSL_CERT_FILE" in str(login.value) and "sign-in host" in str(login.value)
    config = config_for(h, ca_bundle=None)
    async with GraphClient(config, token_provider=_EmulatorTokens(h), limiter=GraphLimiter()) as client:
        with pytest.raises(UntrustedCertificate) as graph:
            await client.get("/users")
    assert "SSL_CERT_FILE" in str(graph.value) and "127.0.0.1" in str(graph.value)
    assert client.metrics.requests == 1  # not retried: it will not start trusting the host
    assert_one_line(login.value)
    assert_one_line(graph.value)


def test_a_national_cloud_config_targets_that_cloud() -> None:
    # No national cloud is reachable from tests: check the URLs the client would use (unit-level).
    config = GraphConfig(tenant_id="t", client_id="c", credential=ClientSecret("s"), cloud="usgov")
    assert config.authority == "https://login.microsoftonline.us/t"
    assert config.scope == "https://graph.microsoft.us/.default"
    seen: list[str] = []

    async def run() -> None:
        class Tokens:
            async def access_token(self) -> str:
                return "t"

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(str(request.url))
            return httpx.Response(200, json={"value": []})

        async with GraphClient(config, token_provider=Tokens(), transport=httpx.MockTransport(handler)) as c:
            await c.get("/users")

    asyncio.run(run())
    assert seen == ["https://graph.microsoft.us/v1.0/users"]


# --- paging and delta ------------------------------------------------------------------------------------


async def test_paging_over_several_pages_yields_every_item_once(h: EmulatorHandle) -> None:
    expected = set(h.dump()["objects"]["users"])
    pages: list[int] = []
    ids: list[str] = []
    async with client_for(h) as client:
        async for page in client.iter_pages("/users", params={"$select": "id,displayName"}, page_size=7):
            pages.append(len(page))
            ids.extend(item["id"] for item in page)
    assert len(pages) >= 3 and max(pages) <= 7
    assert len(ids) == len(set(ids)) and set(ids) == expected


async def test_delta_rounds_big_group_chunks_and_expired_tokens(h: EmulatorHandle) -> None:
    h.configure(delta_page_size=4, delta_member_chunk=10)
    dump = h.dump()
    groups = dump["objects"]["groups"]

    def editable(group_id: str) -> bool:
        # Graph refuses manual member changes on dynamic groups and distribution/mail-enabled security groups.
        group = groups.get(group_id, {})
        types = group.get("groupTypes", [])
        return "DynamicMembership" not in types and ("Unified" in types or not group.get("mailEnabled"))

    big_group, big_members = max(
        ((gid, members) for gid, members in dump["members"].items() if editable(gid)),
        key=lambda kv: len(kv[1]),
    )
    assert len(big_members) > 30
    async with client_for(h) as client:
        initial = client.delta("/groups/delta", params={"$select": "displayName,members"})
        entries = [e async for e in initial]
        assert initial.delta_link and initial.pages > 1
        merged = merge_delta_entries(entries)
        assert set(merged) == set(dump["objects"]["groups"])
        member_ids = [m["id"] for m in merged[big_group]["members@delta"]]
        assert sorted(member_ids) == sorted(big_members)
        # Adjacent chunks were merged on the fly: fewer yielded entries than chunks served.
        assert sum(1 for e in entries if e["id"] == big_group) < -(-len(big_members) // 10)

        removed_member = big_members[0]
        assert h.act("PATCH", f"/groups/{big_group}", {"displayName": "Renamed by test"})[0] == 204
        status, _ = h.act("DELETE", f"/groups/{big_group}/members/{removed_member}/$ref")
        assert status == 204
        incremental = client.delta("/groups/delta", delta_link=initial.delta_link)
        changes = merge_delta_entries([e async for e in incremental])
        assert incremental.delta_link and incremental.delta_link != initial.delta_link
        assert changes[big_group]["displayName"] == "Renamed by test"
        removals = [m for m in changes[big_group].get("members@delta", []) if "@removed" in m]
        assert [m["id"] for m in removals] == [removed_member]

        h.expire_delta_tokens()
        with pytest.raises(DeltaTokenExpired) as expired:
            [e async for e in client.delta("/groups/delta", delta_link=incremental.delta_link)]
    assert "full sync" in str(expired.value)
    assert_one_line(expired.value)


# --- $batch, throttling, faults ---------------------------------------------------------------------------


async def test_batch_items_throttled_inside_a_200_are_retried(h: EmulatorHandle) -> None:
    h.configure(throttling={"ru_quota_medium": 10, "ru_window_s": 1.0})
    user_ids = sorted(h.dump()["objects"]["users"])[:20]
    batch = [
        BatchRequest(str(i), "GET", f"/users/{uid}?$select=id,displayName") for i, uid in enumerate(user_ids)
    ]
    async with client_for(h) as client:  # believes the default 8,000 RU: the emulator will push back
        responses = await client.batch(batch)
    assert [r.status for r in responses] == [200] * 20
    assert [r.body["id"] for r in responses] == user_ids
    counters = h.counters()["totals"]
    assert client.metrics.throttled >= 1 and counters["throttled"] == client.metrics.throttled
    assert counters["batches"] == client.metrics.requests >= 2
    assert client.metrics.batch_items == 20 + client.metrics.retries


async def test_throttle_storm_stays_mostly_below_the_quota(h: EmulatorHandle) -> None:
    # 30 RU/s with a burst of 30: a fraction of what the emulator can serve, so the quota binds.
    h.configure(throttling={"ru_quota_medium": 30, "ru_window_s": 1.0})
    user_ids = sorted(h.dump()["objects"]["users"])
    paths = [f"/users/{user_ids[i % len(user_ids)]}" for i in range(100)]  # 1 RU each with $select
    # The client assumes twice the real rate and a 10 s burst: it runs into 429s at once and must adapt.
    async with client_for(h, ru_per_10s=600, max_concurrency=8) as client:
        results = await asyncio.gather(*(client.get(p, params={"$select": "id"}) for p in paths))
    assert [r["id"] for r in results] == [p.rsplit("/", 1)[1] for p in paths]
    counters = h.counters()["totals"]
    assert counters["throttled"] == client.metrics.throttled
    assert client.metrics.throttled <= client.metrics.requests // 5  # rare, not routine
    assert client.metrics.limiter_waits > 0 and client.limiter.resource_units.throttles >= 1
    assert client.metrics.errors == {}


async def test_injected_server_errors_and_resets_are_retried(h: EmulatorHandle) -> None:
    h.configure(
        faults={
            "enabled": True,
            "seed": 11,
            "error_rate": 0.2,
            "reset_rate": 0.05,
            "slow_rate": 0.0,
            "retry_after_s": 0,
        }
    )
    user_ids = sorted(h.dump()["objects"]["users"])
    async with client_for(h) as client:
        results = await asyncio.gather(*(client.get(f"/users/{uid}") for uid in user_ids))
    assert [r["id"] for r in results] == user_ids
    counters = h.counters()["totals"]
    assert counters["faults"] >= 1 and client.metrics.retries == counters["faults"]  # one retry per fault
    # Retries keep their client-request-id, so the emulator recognises every one of them.
    assert counters["retries"] == client.metrics.retries
    assert client.metrics.errors == {}


async def test_refuses_to_follow_links_off_the_graph_host(h: EmulatorHandle) -> None:
    async with client_for(h) as client:
        with pytest.raises(GraphError, match="refusing to follow a link"):
            await client.get("https://example.com/v1.0/users")
