"""People, not accounts: who asked for a restore and who approved it.

A chat account is resolved as far as it can be (platform user -> email -> Entra object id). Two identities
are the same person when any of their aliases match, so one person with a Slack and a Teams account, or two
Slack workspaces, cannot approve their own request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Person:
    """A resolved identity. ``aliases`` look like ``entra:<oid>``, ``email:<addr>``, ``slack:<team>:<user>``,
    ``teams:<tenant>:<aad user>``, ``cli:<name>``; all lowercase."""

    display: str
    aliases: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(
        cls,
        display: str,
        *,
        entra_id: str | None = None,
        email: str | None = None,
        platform: str | None = None,
        team: str | None = None,
        user: str | None = None,
    ) -> Person:
        aliases: set[str] = set()
        if entra_id:
            aliases.add(f"entra:{entra_id.lower()}")
        if email:
            aliases.add(f"email:{email.strip().lower()}")
        if platform and user:
            aliases.add(f"{platform.lower()}:{(team or '').lower()}:{user.lower()}")
        if not aliases:
            raise ValueError("a person needs at least one of entra_id, email or a platform user")
        return cls(display=display, aliases=frozenset(aliases))

    @property
    def key(self) -> str:
        """The strongest alias: the Entra object id, else the email, else the platform account."""
        for prefix in ("entra:", "email:"):
            for alias in sorted(self.aliases):
                if alias.startswith(prefix):
                    return alias
        return sorted(self.aliases)[0]

    @property
    def entra_id(self) -> str | None:
        return _suffix(self.aliases, "entra:")

    @property
    def email(self) -> str | None:
        return _suffix(self.aliases, "email:")

    def same_person(self, other: Person) -> bool:
        return bool(self.aliases & other.aliases)

    def matches_any(self, entries: Iterable[str]) -> bool:
        """Whether one of the configured approver entries (a chat user id, an email or an Entra object id)
        names this person."""
        wanted = {entry.strip().lower() for entry in entries if entry.strip()}
        for alias in self.aliases:
            kind, _, rest = alias.partition(":")
            if kind in ("entra", "email") and rest in wanted:
                return True
            if kind not in ("entra", "email", "cli") and rest.rpartition(":")[2] in wanted:
                return True  # a platform user id such as Slack's U01ABCDEF
        return False

    def to_json(self) -> dict[str, Any]:
        return {"display": self.display, "aliases": sorted(self.aliases)}

    @classmethod
    def from_json(cls, data: dict[str, Any] | str) -> Person:
        raw = json.loads(data) if isinstance(data, str) else data
        return cls(display=str(raw["display"]), aliases=frozenset(raw["aliases"]))

    def __str__(self) -> str:
        return self.display


def _suffix(aliases: frozenset[str], prefix: str) -> str | None:
    found = sorted(a[len(prefix) :] for a in aliases if a.startswith(prefix))
    return found[0] if found else None


def is_object_id(value: str) -> bool:
    return bool(_GUID.match(value))
