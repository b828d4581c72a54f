"""Where things are in a TOML rule file, so that a schema error can name its line like a syntax error does."""

from __future__ import annotations

import re
from collections.abc import Callable


class Locator:
    """Finds the line of a rule, table or key in a rule file, for errors tomllib cannot place."""

    _HEADER = re.compile(r"^\s*\[\[?([^\]]+)\]\]?\s*(#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_.\"' -]+?)\s*=")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.rules = [n for n, line in enumerate(self.lines, 1) if re.match(r"^\s*\[\[\s*rule\s*\]\]", line)]

    def rule(self, index: int) -> int:
        return self.rules[index] if index < len(self.rules) else 1

    def table(self, name: str) -> int:
        for number, line in enumerate(self.lines, 1):
            header = self._HEADER.match(line)
            if header and _clean(header.group(1)) == name:
                return number
        return 1

    def rule_key(self, index: int, key: str, section: str = "") -> int:
        table = "rule" + (f".{section}" if section else "")
        return self._find(self.rule(index), "rule", table, key, lambda name: name.startswith("rule."))

    def table_key(self, table: str, key: str) -> int:
        return self._find(self.table(table), table, table, key, lambda name: False)

    def _find(self, start: int, current: str, table: str, key: str, inside: Callable[[str], bool]) -> int:
        """The line of ``table.key`` in the block from ``start``; else the table's header; else ``start``."""
        target, table_line, first = f"{table}.{key}", None, current
        for number in range(start + 1, len(self.lines) + 1):
            line = self.lines[number - 1]
            header = self._HEADER.match(line)
            if header:
                name = _clean(header.group(1))
                if line.lstrip().startswith("[[") or not inside(name):
                    break
                current = name
                table_line = number if name == table else table_line
                continue
            found = self._KEY.match(line)
            if found and f"{current}.{_clean(found.group(1))}" == target:
                return number
        if table_line is None and "." in table:  # an inline table: point at the key that holds it
            parent, _, name = table.rpartition(".")
            return self._find(start, first, parent, name, inside)
        return table_line or start


def _clean(name: str) -> str:
    return name.replace(" ", "").replace('"', "").replace("'", "")
