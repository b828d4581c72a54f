"""Per-request context handed to readers and writers."""

from __future__ import annotations

from dataclasses import dataclass

from emulator.protocol import Caller, GraphRequest


@dataclass(frozen=True)
class Ctx:
    request: GraphRequest
    caller: Caller
    now: float

    @property
    def eventual(self) -> bool:
        return self.request.headers.get("consistencylevel", "").lower() == "eventual"

    @property
    def base(self) -> str:
        """https://host/v1.0, the root nextLink and @odata.context URLs hang off."""
        return f"{self.request.base_url.rstrip('/')}/{self.request.version}"

    @property
    def method(self) -> str:
        return self.request.method.upper()

    def context_url(self, entity_set: str, select: list[str] | None = None, entity: bool = False) -> str:
        url = f"{self.base}/$metadata#{entity_set}"
        if select:
            url += "(" + ",".join(select) + ")"
        return url + ("/$entity" if entity else "")
