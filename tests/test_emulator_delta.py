"""Delta query on the emulator's directory: initial rounds, incremental rounds, tokens and member chunks."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from emulator.directory import DirectoryOptions, Tenant
from tests.test_emulator_directory import Api, Clock, Reply, follow, make_seed, new_user_body, ref, uid


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tenant(clock: Clock) -> Tenant:
    options = DirectoryOptions(clock=clock, delta_page_size=5, delta_member_chunk=3)
    return Tenant.from_seed(make_seed(), options)


@pytest.fixture
def api(tenant: Tenant) -> Api:
    return Api(tenant)


def run_round(
    api: Api, path: str, query: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], str, int]:
    """All entries of one delta round, the deltaLink it ended with, and the number of pages."""
    entries: list[dict[str, Any]] = []
    response = api.get(path, query, headers=headers)
    pages = 0
    while True:
        assert response.status == 200, response.body
        pages += 1
        entries.extend(response.body["value"])
        if "@odata.deltaLink" in response.body:
            assert "@odata.nextLink" not in response.body
            return entries, response.body["@odata.deltaLink"], pages
        response = api.get(path, follow(response.body["@odata.nextLink"]), headers=headers)


def next_round(
    api: Api, path: str, delta_link: str, headers: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], str, int]:
    return run_round(api, path, follow(delta_link), headers)


def merge(entries: list[dict[str, Any]], rel: str = "members") -> dict[str, set[str]]:
    """Fold repeated entries' <rel>@delta chunks into one membership set per object."""
    merged: dict[str, set[str]] = {}
    for entry in entries:
        current = merged.setdefault(entry["id"], set())
        for item in entry.get(f"{rel}@delta", []):
            if "@removed" in item:
                current.discard(item["id"])
            else:
                current.add(item["id"])
    return merged


def by_id(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in entries}


def assert_gone(response: Reply) -> None:
    assert response.status == 410
    assert response.body["error"]["code"] == "syncStateNotFound"
    assert response.headers["Location"].endswith("/delta")


# ----- initial rounds


def test_initial_round_pages_every_user_once(api: Api, tenant: Tenant) -> None:
    entries, delta_link, pages = run_round(api, "/users/delta")
    ids = [e["id"] for e in entries]
    assert len(ids) == len(set(ids)) == tenant.user_count()
    assert pages == -(-tenant.user_count() // 5)
    assert delta_link.startswith("https://graph.test/v1.0/users/delta?$deltatoken=")
    assert set(entries[0]) == {
        "id",
        "displayName",
        "givenName",
        "surname",
        "userPrincipalName",
        "mail",
        "jobTitle",
        "mobilePhone",
        "businessPhones",
        "officeLocation",
        "preferredLanguage",
    }


def test_initial_round_respects_select_and_manager(api: Api) -> None:
    entries, _, _ = run_round(api, "/users/delta", {"$select": "displayName,accountEnabled,manager"})
    found = by_id(entries)
    assert set(found[uid(1)]) == {"id", "displayName", "accountEnabled"}
    assert found[uid(2)]["manager@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": uid(1)}]
    assert api.get("/users/delta", {"$select": "shoeSize"}).status == 400


def test_big_group_members_come_in_later_repeated_entries(api: Api, tenant: Tenant) -> None:
    entries, _, _ = run_round(
        api,
        "/groups/delta",
        {"$select": "displayName,members,owners"},
        headers={"prefer": "odata.maxpagesize=4"},
    )
    merged = merge(entries)
    expected = {g: set(m) for g, m in tenant.dump()["members"].items() if g.startswith("g-")}
    for group_id in ("g-sec", "g-m365", "g-dist", "g-nested"):
        assert merged[group_id] == expected[group_id]
    positions = [i for i, e in enumerate(entries) if e["id"] == "g-sec"]
    assert len(positions) == 4  # 11 members in chunks of 3
    assert all(len(e.get("members@delta", [])) <= 3 for e in entries)
    assert "displayName" in entries[positions[0]]
    assert all(set(entries[i]) == {"id", "members@delta"} for i in positions[1:])
    assert any(b - a > 1 for a, b in itertools.pairwise(positions))  # not all adjacent
    assert merge(entries, "owners")["g-sec"] == {uid(5)}
    assert all(
        e["members@delta"][0]["@odata.type"].startswith("#microsoft.graph.")
        for e in entries
        if e.get("members@delta")
    )


def test_groups_delta_tracks_members_by_default(api: Api) -> None:
    entries, _, _ = run_round(api, "/groups/delta")
    assert merge(entries)["g-nested"] == {uid(20), uid(21)}


def test_latest_returns_only_a_delta_link(api: Api) -> None:
    response = api.get("/users/delta", {"$deltatoken": "latest"})
    assert response.status == 200 and response.body["value"] == []
    link = response.body["@odata.deltaLink"]
    api.ok("PATCH", f"/users/{uid(3)}", {"displayName": "Renamed"})
    entries, _, _ = next_round(api, "/users/delta", link)
    assert [e["id"] for e in entries] == [uid(3)] and entries[0]["displayName"] == "Renamed"


# ----- incremental rounds


def test_incremental_round_reports_each_kind_of_change(api: Api) -> None:
    _, link, _ = run_round(api, "/users/delta")
    created = api.ok("POST", "/users", new_user_body("newcomer"))
    api.ok("PATCH", f"/users/{uid(1)}", {"jobTitle": "CTO"})
    api.ok("DELETE", f"/users/{uid(2)}")  # soft
    api.ok("DELETE", f"/users/{uid(3)}")
    api.ok("DELETE", f"/directory/deletedItems/{uid(3)}")  # purged
    api.ok("DELETE", f"/users/{uid(4)}")
    api.ok("POST", f"/directory/deletedItems/{uid(4)}/restore")
    entries, link2, _ = next_round(api, "/users/delta", link)
    found = by_id(entries)
    assert set(found) == {created["id"], uid(1), uid(2), uid(3), uid(4)}
    assert found[created["id"]]["userPrincipalName"] == "newcomer@contoso.com"
    assert found[uid(1)]["jobTitle"] == "CTO" and "displayName" in found[uid(1)]
    assert found[uid(2)] == {"id": uid(2), "@removed": {"reason": "changed"}}
    assert found[uid(3)] == {"id": uid(3), "@removed": {"reason": "deleted"}}
    assert found[uid(4)]["displayName"] == "User 004"
    assert next_round(api, "/users/delta", link2)[0] == []


def test_minimal_returns_only_changed_properties(api: Api) -> None:
    _, link, _ = run_round(api, "/users/delta")
    api.ok("PATCH", f"/users/{uid(5)}", {"jobTitle": "Lead"})
    minimal = api.get("/users/delta", follow(link), headers={"prefer": "return=minimal"})
    assert minimal.body["value"] == [{"id": uid(5), "jobTitle": "Lead"}]
    assert minimal.headers["Preference-Applied"] == "return=minimal"
    full = api.get("/users/delta", follow(link)).body["value"]
    assert full[0]["displayName"] == "User 005" and full[0]["jobTitle"] == "Lead"


def test_select_limits_tracked_changes(api: Api) -> None:
    _, link, _ = run_round(api, "/users/delta", {"$select": "displayName"})
    api.ok("PATCH", f"/users/{uid(6)}", {"department": "Sales"})
    assert next_round(api, "/users/delta", link)[0] == []
    api.ok("PATCH", f"/users/{uid(6)}", {"displayName": "Six"})
    assert next_round(api, "/users/delta", link)[0] == [{"id": uid(6), "displayName": "Six"}]


def test_membership_changes_arrive_as_members_delta(api: Api) -> None:
    _, link, _ = run_round(api, "/groups/delta", {"$select": "displayName,members"})
    api.ok("POST", "/groups/g-nested/members/$ref", ref(uid(22)))
    api.ok("DELETE", f"/groups/g-nested/members/{uid(20)}/$ref")
    api.ok("DELETE", f"/users/{uid(21)}")  # soft-deleted users leave their groups too
    entries, _, _ = next_round(api, "/groups/delta", link, headers={"prefer": "return=minimal"})
    assert [e["id"] for e in entries] == ["g-nested"]
    items = {i["id"]: i for i in entries[0]["members@delta"]}
    assert items[uid(22)] == {"@odata.type": "#microsoft.graph.user", "id": uid(22)}
    assert items[uid(20)]["@removed"] == {"reason": "deleted"}
    assert items[uid(21)]["@removed"] == {"reason": "deleted"}


def test_incremental_member_chunks_and_paging(api: Api) -> None:
    _, link, _ = run_round(api, "/groups/delta", {"$select": "displayName,members"})
    for n in range(11, 19):
        api.ok("POST", "/groups/g-m365/members/$ref", ref(uid(n)))
    api.ok("PATCH", "/groups/g-sec", {"description": "changed"})
    entries, _, pages = next_round(api, "/groups/delta", link, headers={"prefer": "odata.maxpagesize=2"})
    assert pages >= 2
    assert merge(entries)["g-m365"] == {uid(n) for n in range(11, 19)}
    assert all(len(e.get("members@delta", [])) <= 3 for e in entries)


def test_restored_group_comes_back_with_its_members(api: Api) -> None:
    _, link, _ = run_round(api, "/groups/delta", {"$select": "displayName,members"})
    api.ok("DELETE", "/groups/g-nested")
    entries, link2, _ = next_round(api, "/groups/delta", link)
    assert {"id": "g-nested", "@removed": {"reason": "changed"}} in entries
    api.ok("POST", "/directory/deletedItems/g-nested/restore")
    entries, _, _ = next_round(api, "/groups/delta", link2)
    assert merge(entries)["g-nested"] == {uid(20), uid(21)}
    api.ok("DELETE", "/groups/g-dist")  # hard delete
    assert {"id": "g-dist", "@removed": {"reason": "deleted"}} in next_round(api, "/groups/delta", link2)[0]


def test_filter_by_ids_only(api: Api) -> None:
    query = {"$filter": f"id eq '{uid(1)}' or id eq '{uid(2)}'"}
    entries, link, _ = run_round(api, "/users/delta", query)
    assert sorted(e["id"] for e in entries) == [uid(1), uid(2)]
    api.ok("PATCH", f"/users/{uid(3)}", {"displayName": "Not watched"})
    api.ok("PATCH", f"/users/{uid(2)}", {"displayName": "Watched"})
    assert [e["id"] for e in next_round(api, "/users/delta", link)[0]] == [uid(2)]
    assert api.get("/users/delta", {"$filter": "displayName eq 'x'"}).status == 400
    too_many = " or ".join(f"id eq '{uid(n)}'" for n in range(51))
    assert api.get("/users/delta", {"$filter": too_many}).status == 400
    for option in ("$top", "$orderby", "$expand"):
        assert api.get("/users/delta", {option: "5"}).status == 400


def test_other_collections_have_delta(api: Api) -> None:
    for path in (
        "/applications/delta",
        "/servicePrincipals/delta",
        "/directory/administrativeUnits/delta",
        "/oauth2PermissionGrants/delta",
    ):
        entries, _, _ = run_round(api, path)
        assert entries, path
    _, link, _ = run_round(api, "/oauth2PermissionGrants/delta")
    api.ok("DELETE", "/oauth2PermissionGrants/grant-2")
    assert next_round(api, "/oauth2PermissionGrants/delta", link)[0] == [
        {"id": "grant-2", "@removed": {"reason": "deleted"}}
    ]
    assert api.get("/domains/delta").status in (400, 404)


# ----- tokens


def test_expired_forged_and_invalidated_tokens_answer_410(api: Api, tenant: Tenant, clock: Clock) -> None:
    _, link, _ = run_round(api, "/users/delta")
    token = follow(link)["$deltatoken"]
    assert_gone(api.get("/users/delta", {"$deltatoken": token[:-2] + "xx"}))
    assert_gone(api.get("/users/delta", {"$deltatoken": "garbage"}))
    assert_gone(api.get("/groups/delta", {"$deltatoken": token}))  # another resource's token
    clock.now += tenant.options.delta_token_ttl_s + 1
    assert_gone(api.get("/users/delta", {"$deltatoken": token}))
    clock.now -= tenant.options.delta_token_ttl_s + 1
    assert api.get("/users/delta", {"$deltatoken": token}).status == 200
    first = api.get("/users/delta")
    skip = follow(first.body["@odata.nextLink"])
    tenant.expire_delta_tokens()
    assert_gone(api.get("/users/delta", {"$deltatoken": token}))
    assert_gone(api.get("/users/delta", skip))
    other = Tenant.from_seed(make_seed(3))
    response = Api(other).get("/users/delta", follow(link))
    assert response.status == 410


def test_changes_during_an_initial_round_arrive_next_round(api: Api) -> None:
    first = api.get("/users/delta")
    api.ok("PATCH", f"/users/{uid(1)}", {"displayName": "Changed mid-round"})
    entries = list(first.body["value"])
    response = first
    while "@odata.nextLink" in response.body:
        response = api.get("/users/delta", follow(response.body["@odata.nextLink"]))
        entries.extend(response.body["value"])
    following, _, _ = next_round(api, "/users/delta", response.body["@odata.deltaLink"])
    assert by_id(following)[uid(1)]["displayName"] == "Changed mid-round"
