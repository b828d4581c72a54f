"""Reading what a person typed into a ``Selector``; the grammar is in ``core.restore.selectors``."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Literal

from core.registry import OBJECT_TYPES, ObjectType, UnknownType, object_type
from core.restore.errors import SelectorError

USAGE = (
    "usage: restore plan ID|UPN|NAME|TYPE:NAME | type TYPE | all TITLE | deleted [since TIME] | "
    "objects TYPE/ID[,TYPE/ID...] | alert FROM TO  [--from SNAPSHOT]"
)

SelectorKind = Literal["object", "type", "deleted", "objects", "alert"]


@dataclass(frozen=True)
class Selector:
    kind: SelectorKind
    text: str = ""  # object: the id, UPN or name; type: the type's registry name
    type_name: str | None = None  # object: the type prefix given (user:, group:)
    since: str | None = None  # deleted: the time after which deletions count
    refs: tuple[tuple[str, str], ...] = ()  # objects: (type, id)
    window: tuple[str, str] | None = None  # alert: (from snapshot, to snapshot)


def bad_syntax(problem: str) -> SelectorError:
    return SelectorError(f"{problem}; {USAGE}")


def parse_selector(text: str) -> Selector:
    """The selector a person typed; raises ``SelectorError`` (with the usage line) when it cannot be read."""
    raw = " ".join(text.split())
    if not raw:
        raise bad_syntax("nothing to restore was named")
    try:
        words = shlex.split(raw)
    except ValueError:
        raise bad_syntax(f"unbalanced quotes in {raw!r}") from None
    head = words[0].lower() if words else ""
    quoted = raw[0] in "\"'"
    if quoted:
        return Selector("object", " ".join(words))
    rest = words[1:]
    if head == "type":
        if not rest:
            raise bad_syntax("`type` needs a type name")
        return Selector("type", type_from_words(" ".join(rest)).name)
    if head == "all":
        if not rest:
            raise bad_syntax("`all` needs what to restore, e.g. `all conditional access policies`")
        return Selector("type", type_from_words(" ".join(rest)).name)
    if head == "deleted":
        if not rest:
            return Selector("deleted")
        if rest[0].lower() != "since" or len(rest) < 2:
            raise bad_syntax(f"cannot read {raw!r}: write `deleted since 1h` or `deleted`")
        return Selector("deleted", since=" ".join(rest[1:]))
    if head == "objects":
        return Selector("objects", refs=_object_list(" ".join(rest)))
    if head == "alert":
        if len(rest) != 2:
            raise bad_syntax("`alert` needs two snapshots: alert FROM TO")
        return Selector("alert", window=(rest[0], rest[1]))
    prefix, sep, name = raw.partition(":")
    if sep and name.strip() and " " not in prefix:
        try:
            kind = object_type(prefix)
        except UnknownType:
            kind = None
        if kind is not None:
            return Selector("object", _unquote(name.strip()), type_name=kind.name)
    return Selector("object", raw)


def type_from_words(words: str) -> ObjectType:
    """A registry type by name or title, plural or singular: ``users``, ``Conditional Access policy``."""
    text = words.strip()
    if not text:
        raise bad_syntax("a type name is needed")
    wanted = _singular(text)
    for t in OBJECT_TYPES:
        names = {t.name.lower(), _singular(t.name), _singular(t.title), _singular(t.title.split(" (")[0])}
        if wanted in names or text.lower() in names:
            return t
    choices = ", ".join(sorted(t.name for t in OBJECT_TYPES))
    raise bad_syntax(f"unknown object type {text!r} (one of {choices})")


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _object_list(text: str) -> tuple[tuple[str, str], ...]:
    items = [part.strip() for part in text.replace(" ", ",").split(",") if part.strip()]
    if not items:
        raise bad_syntax("`objects` needs TYPE/ID items")
    refs: list[tuple[str, str]] = []
    for item in items:
        name, sep, object_id = item.partition("/")
        if not sep or not name or not object_id:
            raise bad_syntax(f"{item!r} is not TYPE/ID")
        try:
            refs.append((object_type(name).name, object_id))
        except UnknownType as exc:
            raise bad_syntax(str(exc)) from None
    return tuple(dict.fromkeys(refs))


def _singular(words: str) -> str:
    text = " ".join(words.lower().replace("(", " ").replace(")", " ").split())
    if text.endswith("ies"):
        return text[:-3] + "y"
    return text[:-1] if text.endswith("s") else text
