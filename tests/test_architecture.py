"""The design card's one-way data flow, checked on the source: Graph -> core -> bot -> adapter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAT_LIBRARIES = {"slack_bolt", "slack_sdk", "botbuilder", "microsoft_agents"}


def imported_roots(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("core", {"bot", "adapters", "rewind", "emulator", *CHAT_LIBRARIES}),
        ("bot", {"adapters", "rewind", "emulator", *CHAT_LIBRARIES}),
        ("emulator", {"core", "bot", "adapters", "rewind"}),
    ],
)
def test_package_does_not_reach_upstream(package: str, forbidden: set[str]) -> None:
    imports = imported_roots(package)
    offenders = {name: sorted(files) for name, files in imports.items() if name in forbidden}
    assert offenders == {}, f"{package}/ must not import {sorted(offenders)}: {offenders}"


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.setdefault(node.module, set()).add(str(path.relative_to(ROOT)))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    found.setdefault(alias.name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_adapters_stay_thin() -> None:
    """Adapters translate a platform to bot/: never the CLI or the emulator, and of core only its errors, so
    a Teams adapter can reuse bot/ unchanged and core's internals can move freely."""
    imports = imported_modules("adapters")
    offenders = {
        name: sorted(files)
        for name, files in imports.items()
        if name.split(".")[0] in {"rewind", "emulator"}
        or (name.split(".")[0] == "core" and name != "core.errors")
    }
    assert offenders == {}, f"adapters/ reaches past bot/: {offenders}"
    assert any(name.startswith("bot") for name in imports)
    assert "slack_bolt" in {name.split(".")[0] for name in imports}


def test_the_checker_sees_imports() -> None:
    # Guards the test above against silently parsing nothing.
    assert "pydantic_settings" in imported_roots("core")
