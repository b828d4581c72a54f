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


def restore_graph_config(settings: RewindSettings, tenant_id: str | None = None) -> GraphConfig:
    """The connection restores write through: the restore app when REWIND_RESTORE_CLIENT_ID and its secret or
    certificate are set (so the backup app can stay read-only), else the main one."""
    restore_fields = (
        settings.restore_client_id,
        settings.restore_client_secret,
        settings.restore_client_certificate,
    )
    if all(value is None for value in restore_fields):
        return graph_config(settings, tenant_id=tenant_id)
    if settings.restore_client_id is None:
        raise ConfigurationError(
            "the restore credential is half-configured: set REWIND_RESTORE_CLIENT_ID too, or unset "
            "REWIND_RESTORE_CLIENT_SECRET / REWIND_RESTORE_CLIENT_CERTIFICATE to restore with the main app"
        )
    if settings.restore_client_secret is None and settings.restore_client_certificate is None:
        raise ConfigurationError(
            "the restore credential is half-configured: set REWIND_RESTORE_CLIENT_SECRET or "
            "REWIND_RESTORE_CLIENT_CERTIFICATE, or unset REWIND_RESTORE_CLIENT_ID to use the main app"
        )
    restore_settings = settings.model_copy(
        update={
            "client_id": settings.restore_client_id,
            "client_secret": settings.restore_client_secret,
            "client_certificate": settings.restore_client_certificate,
        }
    )
    try:
        return graph_config(restore_settings, tenant_id=tenant_id)
    except ConfigurationError as exc:  # name the restore variables, not the main ones
        raise ConfigurationError(str(exc).replace("REWIND_CLIENT_", "REWIND_RESTORE_CLIENT_")) from None
