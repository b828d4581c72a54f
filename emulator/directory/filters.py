"""The subset of OData ``$filter`` Graph accepts on directory collections, compiled to predicates."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .clock import parse_dt
from .errors import GraphFault, bad_request, unsupported

# (object, its "@odata.type" annotation) -> keep?
Predicate = Callable[[dict[str, Any], str], bool]
_Eval = Callable[[dict[str, Any], str, Any], bool]  # third argument: the element bound by any()

Literal = tuple[str, Any]  # ("s" string | "dt" datetime text | "n" number | "b" bool | "null", value)
Node = tuple[Any, ...]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\b
    | (?P<dt>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)
    | (?P<num>-?\d+(?:\.\d+)?)\b
    | (?P<punc>[(),:])
    | (?P<name>[A-Za-z_@$][\w.@$]*(?:/[A-Za-z_@$][\w.@$]*)*)
    )""",
    re.VERBOSE,
)

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
_FUNCS = frozenset({"startswith", "endswith", "contains", "isof"})
_EVENTUAL_ONLY = frozenset({"ne", "not", "endswith"})


@dataclass(frozen=True)
class FilterContext:
    known: Callable[[str], bool]  # is this a property of the resource?
    eventual: bool  # ConsistencyLevel: eventual was sent (advanced queries)
    type_name: str  # "microsoft.graph.user", for messages


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise bad_request(f"Invalid filter clause: syntax error at position {pos} in '{text}'.")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self, ahead: int = 0) -> tuple[str, str] | None:
        index = self.pos + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise self.error("unexpected end of expression")
        self.pos += 1
        return token

    def expect(self, value: str) -> None:
        _, text = self.take()
        if text != value:
            raise self.error(f"expected '{value}' but found '{text}'")

    def error(self, what: str) -> GraphFault:
        return bad_request(f"Invalid filter clause: {what} in '{self.text}'.")

    def is_word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "name" and token[1].lower() == word

    def parse(self) -> Node:
        node = self.parse_or()
        if self.peek() is not None:
            raise self.error(f"unexpected '{self.peek()[1]}'")  # type: ignore[index]
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.is_word("or"):
            self.take()
            node = ("or", node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_unary()
        while self.is_word("and"):
            self.take()
            node = ("and", node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        if self.is_word("not"):
            self.take()
            return ("not", self.parse_unary())
        return self.parse_primary()

    def parse_primary(self) -> Node:
        kind, text = self.take()
        if text == "(":
            node = self.parse_or()
            self.expect(")")
            return node
        if kind != "name":
            raise self.error(f"unexpected '{text}'")
        nxt = self.peek()
        if text.lower() in _FUNCS and nxt is not None and nxt[1] == "(":
            return self.parse_function(text.lower())
        if text.endswith(("/any", "/all")):
            path, _, quantifier = text.rpartition("/")
            self.expect("(")
            var_kind, var = self.take()
            if var_kind != "name":
                raise self.error("expected a lambda variable")
            self.expect(":")
            body = self.parse_or()
            self.expect(")")
            return ("lambda", quantifier, path, var, body)
        op_kind, op = self.take()
        op = op.lower()
        if op == "in":
            self.expect("(")
            values = [self.parse_value()]
            while self.peek() is not None and self.peek()[1] == ",":  # type: ignore[index]
                self.take()
                values.append(self.parse_value())
            self.expect(")")
            return ("in", text, values)
        if op_kind != "name" or op not in _COMPARE:
            raise self.error(f"unknown operator '{op}'")
        return ("cmp", op, text, self.parse_value())

    def parse_function(self, name: str) -> Node:
        self.expect("(")
        args: list[tuple[str, Any]] = []
        while True:
            kind, text = self.peek() or ("", "")
            if kind == "name" and text.lower() not in ("true", "false", "null"):
                self.take()
                args.append(("path", text))
            else:
                args.append(self.parse_value())
            if self.peek() is not None and self.peek()[1] == ",":  # type: ignore[index]
                self.take()
                continue
            break
        self.expect(")")
        if name == "isof":
            if len(args) != 1 or args[0][0] != "s":
                raise self.error("isof expects one quoted type name")
            return ("isof", str(args[0][1]))
        if len(args) != 2 or args[0][0] != "path" or args[1][0] != "s":
            raise self.error(f"{name} expects a property and a quoted string")
        return ("func", name, args[0][1], args[1][1])

    def parse_value(self) -> Literal:
        kind, text = self.take()
        if kind == "str":
            return ("s", text[1:-1].replace("''", "'"))
        if kind == "guid":
            return ("s", text)
        if kind == "dt":
            return ("dt", text)
        if kind == "num":
            return ("n", float(text) if "." in text else int(text))
        if kind == "name" and text.lower() in ("true", "false"):
            return ("b", text.lower() == "true")
        if kind == "name" and text.lower() == "null":
            return ("null", None)
        raise self.error(f"expected a literal but found '{text}'")


def parse(text: str) -> Node:
    return _Parser(text).parse()


def _resolve(obj: Any, parts: list[str]) -> Any:
    value = obj
    for part in parts:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _compare(actual: Any, op: str, literal: Literal) -> bool:
    kind, expected = literal
    if kind == "null" or actual is None:
        return (
            (actual is None) == (expected is None)
            if op == "eq"
            else ((actual is None) != (expected is None) if op == "ne" else False)
        )
    if kind == "dt" or (kind == "s" and op not in ("eq", "ne") and parse_dt(actual) is not None):
        left, right = parse_dt(actual), parse_dt(expected)
        if left is None or right is None:
            return op == "ne"
        return _COMPARE[op](left, right)
    if isinstance(actual, bool) or kind == "b":
        if not (isinstance(actual, bool) and kind == "b"):
            return op == "ne"
        return _COMPARE[op](actual, expected)
    if isinstance(actual, str) and isinstance(expected, str):
        return _COMPARE[op](actual.lower(), expected.lower())
    try:
        return bool(_COMPARE[op](actual, expected))
    except TypeError:
        return op == "ne"


class _Compiler:
    def __init__(self, ctx: FilterContext) -> None:
        self.ctx = ctx

    def getter(self, path: str, scope: str | None) -> Callable[[dict[str, Any], Any], Any]:
        parts = path.split("/")
        if scope is not None and parts[0] == scope:
            rest = parts[1:]
            return lambda obj, elem: _resolve(elem, rest)
        if "$count" in parts:
            raise unsupported("Filtering on $count is not supported.")
        if not self.ctx.known(parts[0]):
            raise bad_request(f"Could not find a property named '{parts[0]}' on type '{self.ctx.type_name}'.")
        if len(parts) == 1:
            name = parts[0]
            return lambda obj, elem: obj.get(name)
        return lambda obj, elem: _resolve(obj, parts)

    def need_eventual(self, what: str) -> None:
        if not self.ctx.eventual:
            raise unsupported(
                f"Operator '{what}' is not supported because the 'ConsistencyLevel:eventual' header is "
                "missing. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
            )

    def compile(self, node: Node, scope: str | None = None) -> _Eval:
        tag = node[0]
        if tag in ("and", "or"):
            left, right = self.compile(node[1], scope), self.compile(node[2], scope)
            if tag == "and":
                return lambda o, t, e: left(o, t, e) and right(o, t, e)
            return lambda o, t, e: left(o, t, e) or right(o, t, e)
        if tag == "not":
            self.need_eventual("not")
            inner = self.compile(node[1], scope)
            return lambda o, t, e: not inner(o, t, e)
        if tag == "cmp":
            op, path, literal = node[1], node[2], node[3]
            if op in _EVENTUAL_ONLY:
                self.need_eventual(op)
            get = self.getter(path, scope)
            return lambda o, t, e: _compare(get(o, e), op, literal)
        if tag == "in":
            get = self.getter(node[1], scope)
            literals: list[Literal] = node[2]
            return lambda o, t, e: any(_compare(get(o, e), "eq", lit) for lit in literals)
        if tag == "func":
            name, path, prefix = node[1], node[2], str(node[3]).lower()
            if name == "contains":
                raise unsupported("The 'contains' function is not supported on directory objects.")
            if name == "endswith":
                self.need_eventual("endsWith")
            get = self.getter(path, scope)
            test = str.startswith if name == "startswith" else str.endswith

            def check(o: dict[str, Any], t: str, e: Any) -> bool:
                value = get(o, e)
                return isinstance(value, str) and test(value.lower(), prefix)

            return check
        if tag == "isof":
            wanted = "#" + str(node[1])
            return lambda o, t, e: t == wanted or o.get("@odata.type") == wanted
        if tag == "lambda":
            quantifier, path, var, body = node[1], node[2], node[3], node[4]
            get = self.getter(path, scope)
            test_elem = self.compile(body, var)
            combine = any if quantifier == "any" else all

            def check_all(o: dict[str, Any], t: str, e: Any) -> bool:
                items = get(o, e)
                return isinstance(items, list) and combine(test_elem(o, t, item) for item in items)

            return check_all
        raise bad_request("Invalid filter clause.")


def compile_filter(text: str, ctx: FilterContext) -> Predicate:
    evaluate = _Compiler(ctx).compile(parse(text))
    return lambda obj, odata_type: evaluate(obj, odata_type, None)


def id_equalities(text: str) -> list[str] | None:
    """The ids of "id eq 'a' or id eq 'b' ...", or None for any other filter (the only form delta takes)."""
    try:
        node = parse(text)
    except GraphFault:
        return None
    ids: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current[0] == "or":
            stack.extend((current[2], current[1]))
        elif current[0] == "cmp" and current[1] == "eq" and current[2] == "id" and current[3][0] == "s":
            ids.append(str(current[3][1]))
        else:
            return None
    return ids


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def guid_lookups(text: str | None) -> set[str] | None:
    """The lower-cased ids of a filter made only of ``id eq`` and ``id in`` terms OR-ed together, all GUIDs;
    None for any other filter. Such a query is answered from the ids, not by scanning the collection."""
    if not text:
        return None
    try:
        node = parse(text)
    except GraphFault:
        return None
    ids: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if current[0] == "or":
            stack.extend((current[1], current[2]))
            continue
        if current[0] == "cmp" and current[1] == "eq" and current[2] == "id":
            literals = [current[3]]
        elif current[0] == "in" and current[1] == "id":
            literals = current[2]
        else:
            return None
        for kind, value in literals:
            if kind != "s" or not _GUID.fullmatch(str(value)):
                return None
            ids.add(str(value).lower())
    return ids
