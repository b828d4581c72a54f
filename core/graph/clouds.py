"""Microsoft's national clouds: where to sign in and where Graph lives (reference §8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Cloud = Literal["global", "usgov", "usgovdod", "china"]


@dataclass(frozen=True)
class CloudEndpoints:
    authority_host: str  # e.g. "https://login.microsoftonline.com", no trailing slash
    graph_url: str  # Graph root without the version, e.g. "https://graph.microsoft.com"


CLOUDS: dict[str, CloudEndpoints] = {
    "global": CloudEndpoints("https://login.microsoftonline.com", "https://graph.microsoft.com"),
    "usgov": CloudEndpoints("https://login.microsoftonline.us", "https://graph.microsoft.us"),
    "usgovdod": CloudEndpoints("https://login.microsoftonline.us", "https://dod-graph.microsoft.us"),
    "china": CloudEndpoints("https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"),
}
