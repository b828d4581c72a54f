"""The emulator's throttling model on its own: the RU cost table and the token buckets, on a fake clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulator.config import EmulatorConfig, ThrottlingConfig
from emulator.costs import is_write, resource_units, service_of
from emulator.throttling import Throttler, TokenBucket, Verdict

APP, OTHER_APP = "app-1", "app-2"
TENANT, OTHER_TENANT = "tenant-1", "tenant-2"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def users(n: int) -> Callable[[], int]:
    return lambda: n


def throttler(**limits: object) -> tuple[Throttler, FakeClock]:
    clock = FakeClock()
    return Throttler(ThrottlingConfig.model_validate(limits), clock), clock


def get(t: Throttler, path: str = "/users", *, app: str = APP, tenant: str = TENANT, **query: str) -> Verdict:
    return t.admit(method="GET", path=path, query=query, app_id=app, tenant_id=tenant, tenant_users=users(20))


def write(t: Throttler, *, app: str = APP, tenant: str = TENANT) -> Verdict:
    return t.admit(
        method="PATCH", path="/users/u", query={}, app_id=app, tenant_id=tenant, tenant_users=users(20)
    )


@pytest.mark.parametrize(
    ("method", "path", "query", "cost"),
    [
        ("GET", "/users", {}, 2),
        ("GET", "/users/delta", {}, 2),
        ("GET", "/Users", {"$select": "id"}, 1),
        ("GET", "/users", {"$top": "10"}, 1),
        ("GET", "/users", {"$top": "999"}, 2),
        ("GET", "/users", {"$expand": "manager"}, 3),
        ("GET", "/applications", {}, 2),
        ("GET", "/oauth2PermissionGrants", {}, 2),
        ("GET", "/servicePrincipals/sp/appRoleAssignments", {}, 2),
        ("GET", "/groups/g/members", {}, 3),
        ("GET", "/groups/g/members", {"$select": "id", "$top": "5"}, 1),
        ("GET", "/groups/g/transitiveMembers", {}, 5),
        ("GET", "/users/u/memberOf", {}, 2),
        ("GET", "/groups", {}, 1),
        ("GET", "/groups", {"$select": "id"}, 1),  # never below 1
        ("POST", "/directoryObjects/getByIds", {}, 5),
        ("POST", "/directoryObjects/getByIds", {"$select": "id"}, 2),
        ("POST", "/users/u/checkMemberGroups", {}, 4),
        ("POST", "/users", {}, 1),
        ("PATCH", "/users/u", {"$select": "id"}, 1),
        ("DELETE", "/groups/g/members/u/$ref", {}, 1),
    ],
)
def test_resource_unit_costs(method: str, path: str, query: dict[str, str], cost: int) -> None:
    assert resource_units(method, path, query) == cost


def test_read_actions_are_not_writes_and_services_are_told_apart() -> None:
    assert is_write("POST", "/users")
    assert is_write("DELETE", "/directory/deletedItems/x")
    assert not is_write("POST", "/directoryObjects/getByIds")
    assert not is_write("GET", "/users")
    assert service_of("/identity/conditionalAccess/policies") == "conditional_access"
    assert service_of("/auditLogs/signIns") == "reports"
    assert service_of("/policies/authorizationPolicy") == "identity"


def test_bucket_refills_continuously_and_caps_at_capacity() -> None:
    bucket = TokenBucket(capacity=10, window_s=10, tokens=0, updated=0)
    bucket.refill(2.5)
    assert bucket.tokens == pytest.approx(2.5)
    assert bucket.wait_s(5) == pytest.approx(2.5)
    bucket.refill(100)
    assert bucket.tokens == 10
    assert bucket.wait_s(50) == 0  # a cost over capacity only waits for a full bucket


@pytest.mark.parametrize(("size", "quota"), [(49, 3500), (50, 5000), (500, 5000), (501, 8000)])
def test_ru_quota_follows_tenant_size(size: int, quota: int) -> None:
    t, _ = throttler()
    assert t.ru_quota(size) == quota


def test_ru_bucket_throttles_with_retry_after_and_scope_then_recovers() -> None:
    t, clock = throttler(ru_quota_small=10, ru_window_s=10)
    assert [get(t).throttled for _ in range(5)] == [False] * 5  # 5 x 2 RU
    refused = get(t)
    assert refused.throttled
    assert refused.retry_after_s == 2  # 2 RU at 1 RU/s
    assert refused.headers["Retry-After"] == "2"
    assert refused.headers["x-ms-throttle-scope"] == f"Tenant_Application/ReadWrite/{APP}/{TENANT}"
    assert refused.headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"
    assert get(t, app=OTHER_APP).throttled is False  # per app
    assert get(t, tenant=OTHER_TENANT).throttled is False  # per tenant
    clock.now += 1
    assert get(t).throttled  # a refused request charged nothing, but 1 s refills only 1 RU
    clock.now += 1
    assert get(t).throttled is False


def test_limit_percentage_appears_past_80_percent() -> None:
    t, _ = throttler(ru_quota_small=10)
    assert "x-ms-throttle-limit-percentage" not in get(t).headers  # 20 %
    for _ in range(3):
        get(t)
    assert get(t).headers["x-ms-throttle-limit-percentage"] == "1"  # 10 of 10 used


def test_write_quota_per_app_and_tenant() -> None:
    t, clock = throttler(app_tenant_write_limit=2, app_tenant_write_window_s=150)
    assert not write(t).throttled and not write(t).throttled
    refused = write(t)
    assert refused.throttled and refused.information == "WriteLimitExceeded"
    assert refused.scope == f"Tenant_Application/Write/{APP}/{TENANT}"
    assert refused.retry_after_s == 75
    assert get(t).throttled is False  # reads are not write-limited
    assert write(t, app=OTHER_APP).throttled is False
    clock.now += 75
    assert write(t).throttled is False


def test_tenant_write_quota_spans_apps() -> None:
    t, _ = throttler(tenant_write_limit=3)
    for app in ("a", "b", "c"):
        assert write(t, app=app).throttled is False
    refused = write(t, app="d")
    assert refused.throttled and refused.scope == f"Tenant/Write/d/{TENANT}"
    assert write(t, app="d", tenant=OTHER_TENANT).throttled is False


def test_conditional_access_is_one_per_second_per_tenant_without_retry_after() -> None:
    t, clock = throttler()
    path = "/identity/conditionalAccess/policies"
    assert get(t, path).throttled is False
    refused = get(t, path, app=OTHER_APP)  # across apps
    assert refused.throttled
    assert "Retry-After" not in refused.headers and refused.retry_after_s is None
    assert get(t, path, tenant=OTHER_TENANT).throttled is False
    clock.now += 1
    assert get(t, path).throttled is False


def test_reports_are_five_per_ten_seconds_per_app_and_tenant() -> None:
    t, clock = throttler()
    path = "/auditLogs/directoryAudits"
    assert [get(t, path).throttled for _ in range(5)] == [False] * 5
    refused = get(t, path)
    assert refused.throttled and refused.headers["Retry-After"] == "2"
    assert get(t, path, app=OTHER_APP).throttled is False
    assert get(t).throttled is False  # the identity RU bucket is separate
    clock.now += 2
    assert get(t, path).throttled is False


def test_disabled_throttling_never_refuses_but_still_costs() -> None:
    t, _ = throttler(enabled=False, ru_quota_small=1)
    verdicts = [get(t) for _ in range(50)]
    assert not any(v.throttled for v in verdicts)
    assert {v.headers["x-ms-resource-unit"] for v in verdicts} == {"2"}


def test_coming_back_before_retry_after_is_flagged() -> None:
    t, clock = throttler(ru_quota_small=2)
    get(t)
    assert get(t).throttled
    early = get(t)
    assert early.early_retry and early.retry_after_s == 10
    clock.now += 10
    assert get(t).early_retry is False


def test_reconfiguring_resizes_buckets() -> None:
    t, _ = throttler(ru_quota_small=2)
    get(t)
    assert get(t).throttled
    t.configure(ThrottlingConfig(ru_quota_small=100))
    assert get(t).throttled is False


def test_config_patch_validates_and_switches() -> None:
    config = EmulatorConfig().patched({"throttling": {"ru_quota_small": 7}})
    assert config.throttling.ru_quota_small == 7 and config.throttling.ru_quota_large == 8000
    with pytest.raises(ValueError, match=r"throttling\.ru_quota_small"):
        config.patched({"throttling": {"ru_quota_small": -1}})
    with pytest.raises(ValueError, match="nonsense"):
        config.patched({"nonsense": 1})
    switched = EmulatorConfig.realistic().with_switches(throttling=False, latency=False)
    assert not switched.throttling.enabled and not switched.latency.enabled
    assert switched.replication_lag_s > 0
    assert EmulatorConfig.for_tests().latency.enabled is False
