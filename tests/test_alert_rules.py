"""Alert rules on hand-built changes: every default rule and a near miss, named sets, mass deletion, bad rule
files (and the rules kept in force), and attribution from audit records."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.alerts.attribution import Attributor
from core.alerts.finding import MASS_DELETION_ID, Finding
from core.alerts.rules import RuleBook, RuleFileError, RuleSet, default_rules, default_rules_text, parse_rules
from core.diff.model import Change, FieldChange, LinkChange

GA = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMIN = "e8611ab8-c189-46e8-94e1-60213ab1f814"
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
RULES = default_rules()


def mod(
    type_name: str, *fields: tuple[str, Any, Any], after: dict[str, Any] | None = None, **kw: Any
) -> Change:
    return Change(
        type_name,
        kw.pop("id", f"{type_name}-1"),
        kw.pop("name", "Object"),
        "modified",
        tuple(FieldChange(p, o, n) for p, o, n in fields),
        after=after or {},
        before={},
        **kw,
    )


def added(type_name: str, after: dict[str, Any], **kw: Any) -> Change:
    return Change(type_name, kw.pop("id", f"{type_name}-1"), kw.pop("name", "Object"), "added", after=after)


def removed(type_name: str, before: dict[str, Any] | None = None, **kw: Any) -> Change:
    return Change(
        type_name,
        kw.pop("id", f"{type_name}-1"),
        kw.pop("name", "Object"),
        "removed",
        before=before or {},
        **kw,
    )


def members(group: dict[str, Any], *, add: tuple[str, ...] = ("u1",), drop: tuple[str, ...] = ()) -> Change:
    return Change(
        "group",
        "g1",
        "Tier 0 admins",
        "modified",
        link=LinkChange("members", add, drop),
        before=group,
        after=group,
    )


def rule_of(change: Change, rules: RuleSet = RULES) -> str | None:
    rule = rules.classify(change)
    return rule.id if rule else None


CA = "conditionalAccessPolicy"
AMP = "authenticationMethodsPolicy"
AUTHZ = "authorizationPolicy"
CREDENTIAL = {"keyId": "k2", "displayName": "ci secret", "endDateTime": "2027-01-01T00:00:00Z"}

# (rule expected, change) for every default rule, then near misses that must land elsewhere.
FIRES: list[tuple[str, Change]] = [
    ("ca-policy-deleted", removed(CA)),
    ("ca-policy-disabled", mod(CA, ("state", "enabled", "disabled"))),
    ("ca-policy-report-only", mod(CA, ("state", "enabled", "enabledForReportingButNotEnforced"))),
    ("ca-policy-new-exclusions", mod(CA, ("conditions.users.excludeGroups", [], ["g-breakglass"]))),
    ("ca-policy-new-exclusions", mod(CA, ("conditions.users.excludeRoles", ["r1"], ["r1", "r2"]))),
    ("ca-policy-new-exclusions", mod(CA, ("conditions.applications.excludeApplications", None, ["app"]))),
    (
        "privileged-role-assigned",
        added("unifiedRoleAssignment", {"roleDefinitionId": GA, "principalId": "u1"}),
    ),
    (
        "privileged-role-assigned",
        added("unifiedRoleEligibilitySchedule", {"roleDefinitionId": PRIVILEGED_ROLE_ADMIN.upper()}),
    ),
    ("role-assignable-group-members", members({"isAssignableToRole": True})),
    ("role-assignable-group-members", members({"isAssignableToRole": True}, add=(), drop=("u9",))),
    # The diff names one added element of a keyed list; whole-list reports work too.
    ("app-credential-added", mod("application", ("passwordCredentials[k2]", None, CREDENTIAL))),
    ("app-credential-added", mod("servicePrincipal", ("keyCredentials", [], [{"keyId": "c1"}]))),
    (
        "tenant-wide-consent",
        added("oauth2PermissionGrant", {"consentType": "AllPrincipals", "scope": "Mail.Read"}),
    ),
    (
        "tenant-wide-consent-changed",
        mod(
            "oauth2PermissionGrant",
            ("scope", "User.Read", "User.Read Mail.Send"),
            after={"consentType": "AllPrincipals"},
        ),
    ),
    (
        "weak-auth-method-enabled",
        mod(AMP, ("authenticationMethodConfigurations[Sms].state", "disabled", "enabled")),
    ),
    (
        "weak-auth-method-enabled",
        mod(
            AMP,
            (
                "authenticationMethodConfigurations",
                [{"id": "Voice", "state": "disabled"}, {"id": "Fido2", "state": "enabled"}],
                [{"id": "Voice", "state": "enabled"}, {"id": "Fido2", "state": "enabled"}],
            ),
        ),
    ),
    (
        "mfa-registration-disabled",
        mod(
            AMP,
            (
                "registrationEnforcement.authenticationMethodsRegistrationCampaign.state",
                "enabled",
                "disabled",
            ),
        ),
    ),
    (
        "mfa-registration-exclusions",
        mod(
            AMP,
            (
                "registrationEnforcement.authenticationMethodsRegistrationCampaign.excludeTargets[g7]",
                None,
                {"id": "g7", "targetType": "group"},
            ),
        ),
    ),
    ("guest-invites-from-everyone", mod(AUTHZ, ("allowInvitesFrom", "adminsAndGuestInviters", "everyone"))),
    ("users-may-create-apps", mod(AUTHZ, ("defaultUserRolePermissions.allowedToCreateApps", False, True))),
    (
        "users-may-create-security-groups",
        mod(
            AUTHZ,
            (
                "defaultUserRolePermissions",
                {"allowedToCreateSecurityGroups": False},
                {"allowedToCreateSecurityGroups": True},
            ),
        ),
    ),
    ("msol-powershell-unblocked", mod(AUTHZ, ("blockMsolPowerShell", True, False))),
    ("guest-role-changed", mod(AUTHZ, ("guestUserRoleId", "10dae51f", "a0b1b346"))),
    ("domain-added", added("domain", {"id": "contoso-evil.com"})),
    ("domain-removed", removed("domain")),
    ("domain-federation-changed", mod("domain", ("authenticationType", "Managed", "Federated"))),
    ("user-deleted", removed("user", removed_reason="soft_deleted")),
    ("group-deleted", removed("group")),
    ("app-deleted", removed("application")),
    ("app-deleted", removed("servicePrincipal")),
    (
        "role-assignment-removed",
        removed("unifiedRoleAssignment", {"roleDefinitionId": GA, "principalId": "u1"}),
    ),
    ("named-location-changed", mod("namedLocation", ("ipRanges", [], [{"cidrAddress": "1.2.3.0/24"}]))),
    ("named-location-changed", added("namedLocation", {"displayName": "Anywhere"})),
    ("ca-policy-created", added(CA, {"state": "enabled"})),
    ("ca-policy-modified", mod(CA, ("displayName", "Require MFA", "Require MFA (old)"))),
    (
        "app-owners-changed",
        Change("application", "a1", "App", "modified", link=LinkChange("owners", ("u1",))),
    ),
    ("security-policy-changed", mod("crossTenantAccessPolicy", ("allowedCloudEndpoints", [], ["x"]))),
    ("other-change", mod("user", ("jobTitle", "Engineer", "Manager"))),
]
NEAR_MISSES: list[tuple[str, Change]] = [
    ("ca-policy-modified", mod(CA, ("displayName", "a", "b"), ("modifiedDateTime", "t1", "t2"))),
    ("ca-policy-modified", mod(CA, ("state", "disabled", "enabledForReportingButNotEnforced"))),
    ("ca-policy-modified", mod(CA, ("state", "enabledForReportingButNotEnforced", "disabled"))),
    ("ca-policy-modified", mod(CA, ("conditions.users.excludeGroups", ["g1"], []))),  # exclusion removed
    ("ca-policy-modified", mod(CA, ("conditions.users.includeGroups", [], ["g1"]))),
    ("other-change", added("unifiedRoleAssignment", {"roleDefinitionId": GLOBAL_READER})),
    ("other-change", members({"isAssignableToRole": False})),
    ("other-change", mod("application", ("passwordCredentials[k1]", {"keyId": "k1"}, None))),  # removed
    ("other-change", mod("application", ("passwordCredentials[k1].displayName", "a", "b"))),
    ("other-change", added("oauth2PermissionGrant", {"consentType": "Principal", "principalId": "u1"})),
    ("other-change", mod("oauth2PermissionGrant", ("scope", "a", "b"), after={"consentType": "Principal"})),
    (
        "security-policy-changed",
        mod(AMP, ("authenticationMethodConfigurations[Fido2].state", "disabled", "enabled")),
    ),
    (
        "security-policy-changed",
        mod(AMP, ("authenticationMethodConfigurations[Sms].state", "enabled", "disabled")),
    ),
    ("security-policy-changed", mod(AUTHZ, ("allowInvitesFrom", "adminsAndGuestInviters", "none"))),
    ("security-policy-changed", mod(AUTHZ, ("blockMsolPowerShell", False, True))),
    ("security-policy-changed", mod(AUTHZ, ("defaultUserRolePermissions.allowedToCreateApps", True, False))),
    ("other-change", mod("domain", ("isDefault", False, True))),
    ("other-change", Change("group", "g2", "Team", "modified", link=LinkChange("owners", ("u1",)))),
]


@pytest.mark.parametrize(
    ("expected", "change"), FIRES + NEAR_MISSES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_default_rules(expected: str, change: Change) -> None:
    assert rule_of(change) == expected


def test_every_default_rule_is_exercised() -> None:
    assert {r.id for r in RULES.rules} == {expected for expected, _ in FIRES}


def test_default_severities() -> None:
    severity = {r.id: r.severity for r in RULES.rules}
    assert severity["ca-policy-disabled"] == severity["privileged-role-assigned"] == "critical"
    assert severity["user-deleted"] == severity["ca-policy-modified"] == "warning"
    assert severity["other-change"] == "info"
    assert RULES.mass_deletion.threshold == 20 and RULES.mass_deletion.severity == "critical"


def test_the_shipped_file_documents_its_format() -> None:
    text = default_rules_text()
    assert text.startswith("# Rewind alert rules")
    for word in (
        "new_in",
        "old_in",
        "grew",
        "relationship",
        "[sets]",
        "[mass_deletion]",
        "REWIND_ALERT_RULES",
    ):
        assert word in text


def test_most_severe_match_wins_then_file_order() -> None:
    rules = parse_rules(
        """
[[rule]]
id = "any-ca-change"
severity = "warning"
title = "CA changed"
[rule.match]
type = "conditionalAccessPolicy"

[[rule]]
id = "ca-off"
severity = "critical"
title = "CA off"
[rule.match]
field = "state"
new_in = "disabled"

[[rule]]
id = "also-warning"
severity = "warning"
title = "later"
""",
        "order.toml",
    )
    assert rule_of(mod(CA, ("state", "enabled", "disabled")), rules) == "ca-off"
    assert rule_of(mod(CA, ("displayName", "a", "b")), rules) == "any-ca-change"
    assert rule_of(mod("user", ("jobTitle", "a", "b")), rules) == "also-warning"


def test_named_sets_and_case_insensitive_values() -> None:
    rules = parse_rules(
        """
[sets]
crown_jewels = ["APP-1", "app-2"]
risky = ["everyone"]

[[rule]]
id = "jewel-owner"
severity = "critical"
title = "Owner of {display_name} changed"
[rule.match]
relationship = "owners"
[rule.match.object]
appId = "$crown_jewels"

[[rule]]
id = "risky-setting"
severity = "warning"
title = "Risky"
[rule.match]
new_in = ["$risky", "anyone"]
""",
        "sets.toml",
    )
    jewel = Change(
        "application", "a", "Payroll", "modified", link=LinkChange("owners", ("u",)), after={"appId": "app-1"}
    )
    plain = Change(
        "application", "b", "Other", "modified", link=LinkChange("owners", ("u",)), after={"appId": "app-3"}
    )
    assert rule_of(jewel, rules) == "jewel-owner"
    assert rules.rule("jewel-owner").render_title(jewel) == "Owner of Payroll changed"
    assert rule_of(plain, rules) is None
    assert rule_of(mod(AUTHZ, ("allowInvitesFrom", "x", "Everyone")), rules) == "risky-setting"
    assert rule_of(mod(AUTHZ, ("allowInvitesFrom", "x", "anyone")), rules) == "risky-setting"
    assert rule_of(mod(AUTHZ, ("allowInvitesFrom", "x", "admins")), rules) is None


def users_removed(n: int, *, start: int = 0) -> list[Change]:
    return [
        removed("user", id=f"u{i}", name=f"User {i}", removed_reason="soft_deleted")
        for i in range(start, start + n)
    ]


def test_mass_deletion_threshold() -> None:
    below = RULES.evaluate(users_removed(19))
    assert [f.rule_id for f in below] == ["user-deleted"] * 19
    at = RULES.evaluate([*users_removed(20), removed("group", id="g1")])
    assert [f.rule_id for f in at] == [MASS_DELETION_ID, "group-deleted"]
    mass = at[0]
    assert (mass.severity, mass.object_type, len(mass.changes)) == ("critical", "user", 20)
    assert mass.title == "Mass deletion: 20 users removed"
    custom = parse_rules(
        '[mass_deletion]\nthreshold = 3\nseverity = "warning"\ntitle = "{count} gone"', "m.toml"
    )
    found = custom.evaluate(users_removed(3))
    assert [(f.rule_id, f.severity, f.title) for f in found] == [(MASS_DELETION_ID, "warning", "3 gone")]


def test_consequences_of_a_deletion_are_not_reported_twice() -> None:
    changes = [
        removed("user", id="u1"),
        members({"isAssignableToRole": True}, add=(), drop=("u1",)),  # the group lost the deleted user
        removed("unifiedRoleAssignment", {"principalId": "u1", "roleDefinitionId": GA}, id="ra1"),
        members({"isAssignableToRole": True}, add=(), drop=("u2",)),  # u2 still exists: reported
    ]
    assert [f.rule_id for f in RULES.evaluate(changes)] == ["user-deleted", "role-assignable-group-members"]


def test_fingerprint_and_state_follow_rule_object_and_result() -> None:
    off = RULES.evaluate([mod(CA, ("state", "enabled", "disabled"), id="p1")])[0]
    again = RULES.evaluate([mod(CA, ("state", "enabledForReportingButNotEnforced", "disabled"), id="p1")])
    other = RULES.evaluate([mod(CA, ("state", "enabled", "disabled"), id="p2")])[0]
    assert off.fingerprint == "ca-policy-disabled:conditionalAccessPolicy:p1"
    assert other.fingerprint != off.fingerprint
    assert again[0].rule_id == "ca-policy-modified"
    link = RULES.evaluate([members({"isAssignableToRole": True})])[0]
    assert link.fingerprint.endswith(":g1:members")
    same = RULES.evaluate(
        [mod(CA, ("state", "enabled", "disabled"), ("modifiedDateTime", "a", "b"), id="p1")]
    )[0]
    assert off.state != same.state  # the resulting state includes every changed field
    assert off.state == RULES.evaluate([mod(CA, ("state", "enabled", "disabled"), id="p1")])[0].state
    assert off.evidence == ("state", "enabled", "disabled")


# --- bad rule files ---------------------------------------------------------------------------------------

GOOD = """\
[[rule]]
id = "users"
severity = "warning"
title = "User changed"
[rule.match]
type = "user"
"""


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def error_of(text: str, name: str = "rules.toml") -> str:
    with pytest.raises(RuleFileError) as caught:
        parse_rules(text, name)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_syntax_error_names_the_file_and_line() -> None:
    text = GOOD + '\n[[rule]]\nid = "broken"\nseverity = "info\n'
    message = error_of(text, "/etc/rewind/rules.toml")
    line = line_of(text, 'severity = "info')
    assert message.startswith(f"/etc/rewind/rules.toml line {line}: invalid TOML")


def test_unknown_severity_names_the_rules_line() -> None:
    text = GOOD + '\n[[rule]]\nid = "loud"\nseverity = "urgent"\ntitle = "x"\n'
    message = error_of(text)
    assert message == (
        f"rules.toml line {line_of(text, 'urgent')}: rule 'loud': unknown severity 'urgent' "
        "(use critical, warning or info)"
    )


def test_unknown_match_key_is_named_with_a_hint() -> None:
    text = GOOD + '\n[[rule]]\nid = "typo"\nseverity = "info"\ntitle = "x"\n[rule.match]\nfeild = "state"\n'
    message = error_of(text)
    assert message.startswith(
        f"rules.toml line {line_of(text, 'feild')}: rule 'typo': unknown match key 'feild'"
    )
    assert "did you mean 'field'" in message


@pytest.mark.parametrize(
    ("snippet", "needle", "fragment"),
    [
        ('type = "users2"', "users2", "unknown object type 'users2'"),
        ('change = "deleted"', "deleted", "unknown change 'deleted'"),
        ('new_in = "$nope"', "$nope", "unknown set '$nope'"),
        ("grew = 1", "grew", "grew must be true or false"),
    ],
)
def test_match_values_are_checked(snippet: str, needle: str, fragment: str) -> None:
    text = GOOD + f'\n[[rule]]\nid = "bad"\nseverity = "info"\ntitle = "x"\n[rule.match]\n{snippet}\n'
    message = error_of(text)
    assert message.startswith(f"rules.toml line {line_of(text, needle)}: rule 'bad': {fragment}")


def test_other_schema_errors_name_their_line() -> None:
    dup = GOOD + "\n" + GOOD
    assert error_of(dup).startswith("rules.toml line 8: rule id 'users' is used twice (first at line 1)")
    no_title = GOOD + '\n[[rule]]\nid = "t"\nseverity = "info"\n'
    assert error_of(no_title) == "rules.toml line 8: rule 't' has no title"
    placeholder = GOOD + '\n[[rule]]\nid = "p"\nseverity = "info"\ntitle = "{name} changed"\n'
    assert "unknown placeholder {name}" in error_of(placeholder)
    assert error_of(placeholder).startswith(f"rules.toml line {line_of(placeholder, '{name}')}:")
    unknown_key = GOOD + '\n[[rule]]\nid = "k"\nseverity = "info"\ntitle = "x"\npriority = 3\n'
    assert error_of(unknown_key).startswith(
        f"rules.toml line {line_of(unknown_key, 'priority')}: rule 'k': unknown key"
    )
    mass = GOOD + "\n[mass_deletion]\nthreshold = 0\n"
    assert error_of(mass).startswith(
        f"rules.toml line {line_of(mass, 'threshold')}: [mass_deletion]: threshold"
    )
    section = GOOD + "\n[rules]\nx = 1\n"
    assert error_of(section).startswith(
        f"rules.toml line {line_of(section, '[rules]')}: unknown section 'rules'"
    )


def test_the_rule_book_keeps_its_rules_when_a_new_file_is_bad(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(GOOD)
    book = RuleBook(parse_rules(GOOD, str(path)), path)
    before = book.current
    path.write_text(GOOD.replace('"warning"', '"urgent"'))
    with pytest.raises(RuleFileError, match=r"rules.toml line 3: rule 'users': unknown severity 'urgent'"):
        book.reload()
    assert book.current is before
    assert book.last_error is not None and "line 3" in book.last_error
    assert rule_of(mod("user", ("jobTitle", "a", "b")), book.current) == "users"
    os.utime(path, ns=(1, 1))  # a different stamp: refresh notices the file, refuses it again
    assert book.refresh() is False
    assert book.current is before
    path.write_text(GOOD.replace('"warning"', '"critical"'))
    assert book.refresh() is True
    assert book.current.rule("users").severity == "critical"
    assert book.last_error is None
    assert book.refresh() is True  # unchanged file: nothing to do


def test_the_environment_names_the_rule_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    monkeypatch.setenv("REWIND_ALERT_RULES", str(path))
    assert [r.id for r in RuleBook.from_environment().current.rules] == ["users"]
    monkeypatch.delenv("REWIND_ALERT_RULES")
    assert len(RuleBook.from_environment().current.rules) == len(RULES.rules)
    monkeypatch.setenv("REWIND_ALERT_RULES", str(tmp_path / "missing.toml"))
    with pytest.raises(RuleFileError, match=r"missing\.toml: cannot read the rule file"):
        RuleBook.from_environment()


# --- attribution ------------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def audit(
    minutes: float, activity: str, *targets: str, user: str | None = None, app: str | None = None
) -> dict[str, Any]:
    initiated: dict[str, Any] = {"user": None, "app": None}
    if user:
        initiated["user"] = {
            "id": f"id-{user}",
            "userPrincipalName": user,
            "displayName": user.split("@")[0].title(),
        }
    if app:
        initiated["app"] = {"appId": "app-id", "displayName": app, "servicePrincipalId": "sp-id"}
    return {
        "activityDateTime": at(minutes),
        "activityDisplayName": activity,
        "initiatedBy": initiated,
        "targetResources": [{"id": t, "modifiedProperties": []} for t in targets],
    }


def test_attribution_picks_the_latest_record_in_the_window() -> None:
    records = [
        audit(-30, "Update conditional access policy", "p1", user="early@contoso.com"),  # before the window
        audit(5, "Update conditional access policy", "p1", user="alice@contoso.com"),
        audit(9, "Update conditional access policy", "p1", app="Contoso Automation"),
        audit(40, "Update conditional access policy", "p1", user="late@contoso.com"),  # after the window
        audit(6, "Update user", "u1", user="bob@contoso.com"),
    ]
    attributor = Attributor(records, T0, T0 + timedelta(minutes=15))
    found = attributor.attribution(mod(CA, ("state", "enabled", "disabled"), id="p1"))
    assert found is not None
    assert (found.actor, found.actor_type, found.actor_id, found.at) == (
        "Contoso Automation",
        "app",
        "sp-id",
        at(9),
    )
    user = attributor.attribution(
        mod("user", ("jobTitle", "a", "b"), id="U1")
    )  # ids compare case-insensitively
    assert user is not None and (user.actor, user.actor_type, user.actor_id) == (
        "bob@contoso.com",
        "user",
        "id-bob@contoso.com",
    )
    assert attributor.names["bob@contoso.com"] == "Bob"
    assert attributor.attribution(mod("user", ("jobTitle", "a", "b"), id="nobody")) is None
    narrow = Attributor(records, T0, T0 + timedelta(minutes=6), margin=timedelta(0))
    early = narrow.attribution(mod(CA, ("state", "enabled", "disabled"), id="p1"))
    assert early is not None and early.actor == "alice@contoso.com"


def test_attribution_prefers_the_telling_record() -> None:
    records = [
        audit(2, "Delete user", "u1", user="remover@contoso.com"),
        audit(3, "Update user", "u1", user="toucher@contoso.com"),
        audit(4, "Add member to group", "g1", "u5", user="adder@contoso.com"),
        audit(5, "Update group", "g1", user="renamer@contoso.com"),
    ]
    attributor = Attributor(records, T0, T0 + timedelta(minutes=10))
    gone = attributor.attribution(removed("user", id="u1"))
    assert gone is not None and gone.actor == "remover@contoso.com"
    link = attributor.attribution(members({"isAssignableToRole": True}, add=("u5",)))
    assert link is not None and link.actor == "adder@contoso.com"


def test_role_assignments_are_attributed_through_their_principal() -> None:
    records = [
        audit(1, "Update user", "u1", user="hr@contoso.com"),
        audit(2, "Add member to role", "role-def", "u1", user="mallory@contoso.com"),
    ]
    attributor = Attributor(records, T0, T0 + timedelta(minutes=10))
    change = added("unifiedRoleAssignment", {"principalId": "u1", "roleDefinitionId": GA}, id="assignment-9")
    found = attributor.attribution(change)
    assert found is not None and (found.actor, found.activity) == (
        "mallory@contoso.com",
        "Add member to role",
    )
    (attributed,) = attributor.attribute([change])
    assert attributed.attribution == found and attributed.id == "assignment-9"


def test_a_finding_reports_its_latest_attribution_and_actors() -> None:
    attributor = Attributor(
        [audit(1, "Delete user", "u0", user="a@x.com"), audit(2, "Delete user", "u1", user="b@x.com")],
        T0,
        T0 + timedelta(minutes=10),
    )
    finding = Finding(
        MASS_DELETION_ID, "critical", "t", "deleted", "user", attributor.attribute(users_removed(3))
    )
    assert finding.attribution is not None and finding.attribution.actor == "b@x.com"
    assert [a.actor for a in finding.actors] == ["b@x.com", "a@x.com"]
