"""The three alert severities and their order."""

from __future__ import annotations

from typing import Literal, cast

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")  # least severe first
RANK: dict[str, int] = {name: index for index, name in enumerate(SEVERITIES)}


def severity(value: str) -> Severity:
    if value not in RANK:
        raise ValueError(f"unknown severity {value!r}: choose critical, warning or info")
    return cast(Severity, value)


def at_least(value: str, minimum: str) -> bool:
    return RANK[value] >= RANK[minimum]
