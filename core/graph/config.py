"""Typed, explicit configuration for a Graph connection. Nothing here reads the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.graph.clouds import CLOUDS, Cloud, CloudEndpoints
from core.graph.errors import GraphError


@dataclass(frozen=True)
class ClientSecret:
    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "ClientSecret(value=<redacted>)"

    def __str__(self) -> str:
        return "<client secret>"


@dataclass(frozen=True)
class ClientCertificate:
    """One PEM file holding the private key and the certificate (REWIND_CLIENT_CERTIFICATE)."""

    pem_path: Path
    passphrase: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"ClientCertificate(pem_path={str(self.pem_path)!r})"


Credential = ClientSecret | ClientCertificate


@dataclass(frozen=True)
class GraphConfig:
    tenant_id: str
    client_id: str
    credential: Credential
    cloud: Cloud = "global"
    graph_url: str | None = None  # overrides the cloud's Graph root (emulator, proxies)
    authority_host: str | None = None  # overrides the cloud's login host
    ca_bundle: str | None = None  # PEM path; None -> the system trust store
    api_version: str = "v1.0"
    timeout_s: float = 60.0
    max_attempts: int = 8
    max_concurrency: int = 16
    resource_units_per_10s: int = 8000  # identity RU quota: S 3500 / M 5000 / L 8000

    def __post_init__(self) -> None:
        if self.cloud not in CLOUDS:
            raise GraphError(
                f"unknown cloud {self.cloud!r}", hint=f"set REWIND_CLOUD to one of {', '.join(CLOUDS)}"
            )
        if self.max_attempts < 1 or self.max_concurrency < 1 or self.resource_units_per_10s < 1:
            raise GraphError(
                "max_attempts, max_concurrency and resource_units_per_10s must be at least 1",
                hint="fix the GraphConfig values",
            )

    def endpoints(self) -> CloudEndpoints:
        base = CLOUDS[self.cloud]
        return CloudEndpoints(
            authority_host=(self.authority_host or base.authority_host).rstrip("/"),
            graph_url=(self.graph_url or base.graph_url).rstrip("/"),
        )

    @property
    def authority(self) -> str:
        return f"{self.endpoints().authority_host}/{self.tenant_id}"

    @property
    def scope(self) -> str:
        return f"{self.endpoints().graph_url}/.default"

    @property
    def api_root(self) -> str:
        """Where relative paths resolve: ``{graph_url}/{api_version}``."""
        return f"{self.endpoints().graph_url}/{self.api_version}"
