"""Turn settings into a GraphConfig for one tenant, refusing incomplete settings with the variable to set."""

from __future__ import annotations

from core.errors import ConfigurationError
from core.graph import ClientCertificate, ClientSecret, GraphConfig
from core.settings import RewindSettings, ca_bundle_from_environment


def graph_config(settings: RewindSettings, *, tenant_id: str | None = None) -> GraphConfig:
    tenant = tenant_id or settings.tenant_id
    if not tenant:
        raise ConfigurationError(
            "no tenant: set REWIND_TENANT_ID to the tenant's GUID or domain (or pass --tenant)"
        )
    if not settings.client_id:
        raise ConfigurationError("no application: set REWIND_CLIENT_ID to the app registration's client id")
    credential: ClientSecret | ClientCertificate
    if settings.client_secret and settings.client_certificate:
        raise ConfigurationError(
            "both REWIND_CLIENT_SECRET and REWIND_CLIENT_CERTIFICATE are set: keep only one"
        )
    if settings.client_certificate:
        path = settings.client_certificate.expanduser()
        if not path.is_file():
            raise ConfigurationError(
                f"REWIND_CLIENT_CERTIFICATE points at {path}, which does not exist: "
                "give the path of a PEM file holding the private key and the certificate"
            )
        credential = ClientCertificate(pem_path=path)
    elif settings.client_secret:
        credential = ClientSecret(settings.client_secret.get_secret_value())
    else:
        raise ConfigurationError(
            "no credential: set REWIND_CLIENT_SECRET or REWIND_CLIENT_CERTIFICATE (a PEM path)"
        )
    return GraphConfig(
        tenant_id=tenant,
        client_id=settings.client_id,
        credential=credential,
        cloud=settings.cloud,
        graph_url=settings.graph_url,
        authority_host=settings.authority_host,
        ca_bundle=ca_bundle_from_environment(),
    )
