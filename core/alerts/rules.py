"""Alert rules: the TOML rule file (format documented in default_rules.toml), its loader and evaluation.

A rule file is checked completely before it is used. A mistake raises :class:`RuleFileError` whose one line
names the file, the line and what is wrong; a :class:`RuleBook` keeps the rules it had until a file loads
cleanly.
"""

from __future__ import annotations

import difflib
import os
import re
import string
import tomllib
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import structlog

from core.alerts.finding import MASS_DELETION_ID, Finding
from core.alerts.locate import Locator
from core.alerts.paths import Leaf, canonical, leaves, normalize_path, value_at
from core.alerts.severity import RANK, Severity, severity
from core.diff.model import Change
from core.errors import RewindError
from core.registry import OBJECT_TYPES, object_type

RULES_ENV = "REWIND_ALERT_RULES"
CHANGE_KINDS = ("added", "removed", "modified")
PLACEHOLDERS = frozenset({"display_name", "type_title", "count"})
_TYPE_NAMES = frozenset(t.name for t in OBJECT_TYPES)
_TOP_KEYS = ("sets", "mass_deletion", "rule")
_RULE_KEYS = ("id", "severity", "title", "action", "description", "match")
_MATCH_KEYS = ("type", "change", "field", "new_in", "old_in", "grew", "relationship", "object")
_MASS_KEYS = ("threshold", "severity", "title", "enabled")
_RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Removing these goes with removing the principal they point at: reported as the principal's deletion.
_PRINCIPAL_BOUND = {
    "unifiedRoleAssignment": ("principalId",),
    "unifiedRoleEligibilitySchedule": ("principalId",),
    "appRoleAssignment": ("principalId", "resourceId"),
    "oauth2PermissionGrant": ("clientId", "principalId"),
}

log = structlog.get_logger(__name__)


class RuleFileError(RewindError):
    """A rule file that cannot be used; the message is ``<file> line <n>: <what is wrong>``."""


# --- the model ---------------------------------------------------------------------------------------------


def _norm(value: Any) -> Hashable:
    """A comparable form: strings case-insensitive, and true never equal to 1."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", float(value))
    if isinstance(value, str):
        return ("s", value.casefold())
    if value is None:
        return ("z", None)
    return ("j", canonical(value))


def _value_in(value: Any, allowed: frozenset[Hashable]) -> bool:
    if isinstance(value, list):
        return any(_norm(v) in allowed for v in value)
    return _norm(value) in allowed


@dataclass(frozen=True)
class Match:
    types: frozenset[str] | None = None
    changes: frozenset[str] | None = None
    fields: tuple[str, ...] = ()  # casefolded path prefixes
    new_in: frozenset[Hashable] | None = None
    old_in: frozenset[Hashable] | None = None
    grew: bool | None = None
    relationships: frozenset[str] | None = None
    object: tuple[tuple[str, frozenset[Hashable]], ...] = ()

    @property
    def on_fields(self) -> bool:
        return (
            bool(self.fields) or self.new_in is not None or self.old_in is not None or self.grew is not None
        )

    def matches(self, change: Change, changed: list[Leaf]) -> bool:
        if self.types is not None and change.type not in self.types:
            return False
        if self.changes is not None and change.change not in self.changes:
            return False
        if self.relationships is not None and (
            change.link is None or change.link.relationship.casefold() not in self.relationships
        ):
            return False
        if self.object:
            obj = change.after if change.after is not None else change.before
            if obj is None:
                return False
            if not all(_value_in(value_at(obj, path), allowed) for path, allowed in self.object):
                return False
        if not self.on_fields:
            return True
        return any(self._leaf_matches(leaf) for leaf in changed)

    def evidence(self, changed: list[Leaf]) -> Leaf | None:
        """The changed field that made the rule match, else the first one that is not a timestamp."""
        if self.on_fields:
            return next((leaf for leaf in changed if self._leaf_matches(leaf)), None)
        telling = [leaf for leaf in changed if "datetime" not in leaf.key.rsplit(".", 1)[-1]]
        found = telling or changed
        return found[0] if found else None

    def _leaf_matches(self, leaf: Leaf) -> bool:
        if self.fields and not any(leaf.key.startswith(prefix) for prefix in self.fields):
            return False
        if self.new_in is not None and not _value_in(leaf.new, self.new_in):
            return False
        if self.old_in is not None and not _value_in(leaf.old, self.old_in):
            return False
        return self.grew is None or leaf.grew == self.grew


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    match: Match
    action: str | None = None
    order: int = 0
    line: int = 0

    def render_title(self, change: Change) -> str:
        return render_title(self.title, change.type, change.display_name, 1)

    def action_for(self, change: Change) -> str:
        if self.action:
            return self.action
        if change.link is not None:
            return f"changed the {change.link.relationship} of"
        return {"added": "added", "removed": "deleted"}.get(change.change, "changed")


@dataclass(frozen=True)
class MassDeletion:
    threshold: int = 20
    severity: Severity = "critical"
    title: str = "Mass deletion: {count} {type_title} removed"
    enabled: bool = True


def render_title(template: str, type_name: str, display_name: str | None, count: int) -> str:
    try:
        title = object_type(type_name).title
    except RewindError:
        title = type_name
    text = template.format_map({"display_name": display_name or "", "type_title": title, "count": count})
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    mass_deletion: MassDeletion = field(default_factory=MassDeletion)
    sets: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    source: str = "<rules>"

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    def classify(self, change: Change, changed: list[Leaf] | None = None) -> Rule | None:
        """The most severe matching rule; between equals, the one written first."""
        changed = leaves(change) if changed is None else changed
        best: Rule | None = None
        for rule in self.rules:
            if best is not None and RANK[rule.severity] <= RANK[best.severity]:
                continue
            if rule.match.matches(change, changed):
                best = rule
                if rule.severity == "critical":
                    break
        return best

    def evaluate(self, changes: Iterable[Change]) -> list[Finding]:
        """Findings in the diff's order: mass deletions first, one per type, then one per matched change.

        A removal that only follows from another removal in the same diff (a deleted user's role
        assignments, group memberships or manager link) is not reported on its own.
        """
        items = list(changes)
        removed = {c.id for c in items if c.change == "removed" and c.link is None}
        kept = [c for c in items if not _consequence(c, removed)]
        by_type: dict[str, list[Change]] = {}
        for change in kept:
            if change.change == "removed" and change.link is None:
                by_type.setdefault(change.type, []).append(change)
        mass = self.mass_deletion
        massed = {t for t, found in by_type.items() if mass.enabled and len(found) >= mass.threshold}
        findings = [
            Finding(
                rule_id=MASS_DELETION_ID,
                severity=mass.severity,
                title=render_title(mass.title, name, None, len(by_type[name])),
                action="deleted",
                object_type=name,
                changes=tuple(by_type[name]),
                order=len(self.rules),
            )
            for name in by_type
            if name in massed
        ]
        for change in kept:
            if change.type in massed and change.change == "removed" and change.link is None:
                continue
            changed = leaves(change)
            rule = self.classify(change, changed)
            if rule is not None:
                evidence = rule.match.evidence(changed)
                findings.append(
                    Finding(
                        rule_id=rule.id,
                        severity=rule.severity,
                        title=rule.render_title(change),
                        action=rule.action_for(change),
                        object_type=change.type,
                        changes=(change,),
                        order=rule.order,
                        evidence=(evidence.path, evidence.old, evidence.new) if evidence else None,
                    )
                )
        return findings


def _consequence(change: Change, removed: set[str]) -> bool:
    if change.link is not None:
        return not change.link.added and bool(change.link.removed) and set(change.link.removed) <= removed
    if change.change == "removed" and change.before is not None:
        keys = _PRINCIPAL_BOUND.get(change.type, ())
        return any(change.before.get(key) in removed for key in keys)
    return False


# --- loading -----------------------------------------------------------------------------------------------


def default_rules_text() -> str:
    return resources.files("core.alerts").joinpath("default_rules.toml").read_text(encoding="utf-8")


def default_rules() -> RuleSet:
    return parse_rules(default_rules_text(), "default_rules.toml")


def load_rules(path: str | Path) -> RuleSet:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleFileError(f"{path}: cannot read the rule file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise RuleFileError(f"{path}: the rule file is not UTF-8 text") from None
    return parse_rules(text, str(path))


def parse_rules(text: str, source: str) -> RuleSet:
    lines = Locator(text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column \d+\)", message)
        detail = re.sub(r"\s*\(at line \d+, column \d+\)", "", message) or "invalid TOML"
        if found:
            raise RuleFileError(f"{source} line {found.group(1)}: invalid TOML: {detail}") from None
        raise RuleFileError(f"{source}: invalid TOML: {detail}") from None
    return _Parser(data, lines, source).rule_set()


class _Parser:
    def __init__(self, data: dict[str, Any], lines: Locator, source: str) -> None:
        self.data = data
        self.lines = lines
        self.source = source
        self.sets: dict[str, tuple[Any, ...]] = {}

    def fail(self, line: int, message: str) -> RuleFileError:
        return RuleFileError(f"{self.source} line {line}: {message}")

    def rule_set(self) -> RuleSet:
        for key in self.data:
            if key not in _TOP_KEYS:
                raise self.fail(
                    self._top_line(key), f"unknown section {key!r} (use {', '.join(map(repr, _TOP_KEYS))})"
                )
        self.sets = self._sets()
        mass = self._mass_deletion()
        raw_rules = self.data.get("rule", [])
        if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
            raise self.fail(self._top_line("rule"), "write each rule as a [[rule]] table")
        rules: list[Rule] = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(raw_rules):
            rule = self._rule(index, raw)
            if rule.id in seen:
                raise self.fail(
                    rule.line, f"rule id {rule.id!r} is used twice (first at line {seen[rule.id]})"
                )
            seen[rule.id] = rule.line
            rules.append(rule)
        return RuleSet(tuple(rules), mass, dict(self.sets), self.source)

    def _top_line(self, key: str) -> int:
        line = self.lines.table(key)
        if line == 1:
            line = next(
                (
                    n
                    for n, text in enumerate(self.lines.lines, 1)
                    if re.match(rf"^\s*{re.escape(key)}\s*=", text)
                ),
                1,
            )
        return line

    def _sets(self) -> dict[str, tuple[Any, ...]]:
        raw = self.data.get("sets", {})
        if not isinstance(raw, dict):
            raise self.fail(self._top_line("sets"), "[sets] must be a table of name = [values]")
        sets: dict[str, tuple[Any, ...]] = {}
        for name, values in raw.items():
            if not isinstance(values, list) or any(isinstance(v, dict | list) for v in values):
                raise self.fail(
                    self.lines.table_key("sets", name), f"set {name!r} must be a list of plain values"
                )
            sets[name] = tuple(values)
        return sets

    def _mass_deletion(self) -> MassDeletion:
        raw = self.data.get("mass_deletion", {})
        if not isinstance(raw, dict):
            raise self.fail(self._top_line("mass_deletion"), "[mass_deletion] must be a table")

        def line(key: str) -> int:
            return self.lines.table_key("mass_deletion", key)

        for key in raw:
            if key not in _MASS_KEYS:
                raise self.fail(
                    line(key), f"[mass_deletion]: unknown key {key!r} (use {', '.join(_MASS_KEYS)})"
                )
        threshold = raw.get("threshold", MassDeletion.threshold)
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            raise self.fail(
                line("threshold"), "[mass_deletion]: threshold must be a whole number of at least 1"
            )
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise self.fail(line("enabled"), "[mass_deletion]: enabled must be true or false")
        return MassDeletion(
            threshold=threshold,
            severity=self._severity(raw.get("severity", "critical"), line("severity"), "[mass_deletion]"),
            title=self._title(raw.get("title", MassDeletion.title), line("title"), "[mass_deletion]"),
            enabled=enabled,
        )

    def _severity(self, value: Any, line: int, where: str) -> Severity:
        if isinstance(value, str) and value in RANK:
            return severity(value)
        raise self.fail(line, f"{where}: unknown severity {value!r} (use critical, warning or info)")

    def _title(self, value: Any, line: int, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(line, f"{where}: title must be a non-empty string")
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as exc:
            raise self.fail(line, f"{where}: title {value!r} has a stray brace ({exc})") from None
        unknown = sorted(names - PLACEHOLDERS)
        if unknown:
            raise self.fail(
                line,
                f"{where}: unknown placeholder {{{unknown[0]}}} in the title "
                "(use {display_name}, {type_title} or {count})",
            )
        return value

    def _rule(self, index: int, raw: dict[str, Any]) -> Rule:
        header = self.lines.rule(index)
        rule_id = raw.get("id")
        if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id):
            line = self.lines.rule_key(index, "id") if "id" in raw else header
            raise self.fail(
                line, f"rule #{index + 1} needs an id of letters, digits, '-', '_' or '.' (got {rule_id!r})"
            )
        if rule_id == MASS_DELETION_ID:
            raise self.fail(self.lines.rule_key(index, "id"), f"the rule id {rule_id!r} is reserved")
        where = f"rule {rule_id!r}"
        for key in raw:
            if key not in _RULE_KEYS:
                raise self.fail(
                    self.lines.rule_key(index, key),
                    f"{where}: unknown key {key!r} (use {', '.join(_RULE_KEYS)})",
                )
        if "severity" not in raw:
            raise self.fail(header, f"{where} has no severity (critical, warning or info)")
        if "title" not in raw:
            raise self.fail(header, f"{where} has no title")
        action = raw.get("action")
        if action is not None and (not isinstance(action, str) or not action.strip()):
            raise self.fail(
                self.lines.rule_key(index, "action"), f"{where}: action must be a non-empty string"
            )
        return Rule(
            id=rule_id,
            severity=self._severity(raw["severity"], self.lines.rule_key(index, "severity"), where),
            title=self._title(raw["title"], self.lines.rule_key(index, "title"), where),
            match=self._match(index, raw.get("match", {}), where),
            action=action,
            order=index,
            line=header,
        )

    def _match(self, index: int, raw: Any, where: str) -> Match:
        if not isinstance(raw, dict):
            raise self.fail(self.lines.rule_key(index, "match"), f"{where}: match must be a table")

        def line(key: str) -> int:
            return self.lines.rule_key(index, key, "match")

        for key in raw:
            if key not in _MATCH_KEYS:
                close = difflib.get_close_matches(key, _MATCH_KEYS, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"use {', '.join(_MATCH_KEYS)}"
                raise self.fail(line(key), f"{where}: unknown match key {key!r} ({hint})")
        types = self._names(raw, "type", line, where)
        for name in types or ():
            if name not in _TYPE_NAMES:
                close = difflib.get_close_matches(name, _TYPE_NAMES, n=1)
                hint = f"did you mean {close[0]!r}?" if close else "see the registry's type names"
                raise self.fail(line("type"), f"{where}: unknown object type {name!r} ({hint})")
        changes = self._names(raw, "change", line, where)
        for kind in changes or ():
            if kind not in CHANGE_KINDS:
                raise self.fail(
                    line("change"), f"{where}: unknown change {kind!r} (use added, removed or modified)"
                )
        fields = self._names(raw, "field", line, where)
        relationships = self._names(raw, "relationship", line, where)
        grew = raw.get("grew")
        if grew is not None and not isinstance(grew, bool):
            raise self.fail(line("grew"), f"{where}: grew must be true or false")
        object_conditions = raw.get("object", {})
        if not isinstance(object_conditions, dict):
            raise self.fail(line("object"), f"{where}: object must be a table of property = value(s)")
        return Match(
            types=frozenset(types) if types is not None else None,
            changes=frozenset(changes) if changes is not None else None,
            fields=tuple(normalize_path(f).casefold() for f in fields or ()),
            new_in=self._values(raw, "new_in", line, where),
            old_in=self._values(raw, "old_in", line, where),
            grew=grew,
            relationships=frozenset(r.casefold() for r in relationships)
            if relationships is not None
            else None,
            object=tuple(
                (
                    path,
                    self._value_set(value, self.lines.rule_key(index, path, "match.object"), where),
                )
                for path, value in object_conditions.items()
            ),
        )

    def _names(
        self, raw: dict[str, Any], key: str, line: Callable[[str], int], where: str
    ) -> list[str] | None:
        if key not in raw:
            return None
        value = raw[key]
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
            raise self.fail(line(key), f"{where}: {key} must be a string or a list of strings")
        return items

    def _values(
        self, raw: dict[str, Any], key: str, line: Callable[[str], int], where: str
    ) -> frozenset[Hashable] | None:
        if key not in raw:
            return None
        return self._value_set(raw[key], line(key), where)

    def _value_set(self, value: Any, line: int, where: str) -> frozenset[Hashable]:
        items = value if isinstance(value, list) else [value]
        out: set[Hashable] = set()
        for item in items:
            if isinstance(item, str) and item.startswith("$"):
                name = item[1:]
                if name not in self.sets:
                    known = ", ".join(f"${n}" for n in sorted(self.sets)) or "none defined"
                    raise self.fail(line, f"{where}: unknown set {item!r} (sets: {known})")
                out.update(_norm(v) for v in self.sets[name])
            elif isinstance(item, dict):
                raise self.fail(line, f"{where}: a value cannot be a table")
            else:
                out.add(_norm(item))
        return frozenset(out)


# --- the holder --------------------------------------------------------------------------------------------


class RuleBook:
    """The rules in force. A new file replaces them only when it loads cleanly; otherwise the error is kept
    in ``last_error`` (and raised by :meth:`reload`) and the previous rules stay."""

    def __init__(self, rules: RuleSet, path: Path | None = None) -> None:
        self._rules = rules
        self.path = path
        self.last_error: str | None = None
        self._stamp = _stamp(path)

    @classmethod
    def from_environment(cls) -> RuleBook:
        """``REWIND_ALERT_RULES`` names the rule file; the shipped defaults otherwise."""
        configured = os.environ.get(RULES_ENV)
        if configured:
            path = Path(configured).expanduser()
            return cls(load_rules(path), path)
        return cls(default_rules())

    @property
    def current(self) -> RuleSet:
        return self._rules

    def reload(self, path: Path | None = None) -> RuleSet:
        """Load ``path`` (default: the file in use) and swap it in; on error keep the old rules and raise."""
        target = path or self.path
        try:
            rules = load_rules(target) if target is not None else default_rules()
        except RuleFileError as exc:
            self.last_error = str(exc)
            log.warning("alert rules not reloaded; the previous rules stay in force", error=str(exc))
            raise
        self._rules, self.path, self.last_error = rules, target, None
        self._stamp = _stamp(target)
        return rules

    def refresh(self) -> bool:
        """Reload when the file changed since it was read; False when the new file was refused."""
        stamp = _stamp(self.path)
        if self.path is None or stamp == self._stamp:
            return self.last_error is None
        self._stamp = stamp  # a bad file is reported once, not on every refresh
        try:
            self.reload()
        except RuleFileError:
            return False
        return True


def _stamp(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size
