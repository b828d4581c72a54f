"""Graph-shaped failures raised inside the directory and turned into responses at ``Tenant.handle``."""

from __future__ import annotations

from emulator.protocol import GraphResponse, graph_error


class GraphFault(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self) -> GraphResponse:
        return graph_error(self.status, self.code, self.message, self.headers)


def bad_request(message: str) -> GraphFault:
    return GraphFault(400, "Request_BadRequest", message)


def unsupported(message: str = "Unsupported Query.") -> GraphFault:
    return GraphFault(400, "Request_UnsupportedQuery", message)


_MISSING = "Resource '{}' does not exist or one of its queried reference-property objects are not present."


def not_found(object_id: str) -> GraphFault:
    return GraphFault(404, "Request_ResourceNotFound", _MISSING.format(object_id))


def missing_reference(object_id: str) -> GraphFault:
    """Replication lag or a dangling id used as a reference: Graph answers 400, not 404."""
    return bad_request(_MISSING.format(object_id))


def segment_not_found(segment: str) -> GraphFault:
    return GraphFault(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


def method_not_allowed() -> GraphFault:
    return GraphFault(
        405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."
    )


def read_only(prop: str) -> GraphFault:
    return bad_request(f"Property '{prop}' is read-only and cannot be set.")


def already_referenced(prop: str) -> GraphFault:
    return bad_request(
        f"One or more added object references already exist for the following modified properties: '{prop}'."
    )


def conflict(message: str) -> GraphFault:
    return GraphFault(409, "Request_MultipleObjectsWithSameKeyValue", message)
