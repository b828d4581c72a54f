"""Map what MSAL returns or raises into our errors, each with the setting to fix."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from core.graph.config import ClientCertificate, GraphConfig
from core.graph.errors import (
    AuthenticationFailed,
    ErrorKind,
    GraphError,
    GraphUnreachable,
    UntrustedCertificate,
    one_line,
)

_AADSTS = re.compile(r"AADSTS(\d+)")
_CERT_HINT = "check REWIND_CLIENT_CERTIFICATE is registered on the app (and not expired)"
_TENANT_HINT = "check REWIND_TENANT_ID and REWIND_CLOUD"
# AADSTS code -> (problem template, hint)
_KNOWN: dict[int, tuple[str, str]] = {
    90002: ("tenant {tenant} was not found", _TENANT_HINT),
    90023: ("tenant {tenant} is not a valid tenant", _TENANT_HINT),
    7000215: ("the client secret was rejected", "check REWIND_CLIENT_SECRET (it may have expired)"),
    7000222: ("the client secret has expired", "create a new secret and set REWIND_CLIENT_SECRET"),
    700016: ("application {client_id} was not found in tenant {tenant}", "check REWIND_CLIENT_ID"),
    700027: ("the client certificate was rejected", _CERT_HINT),
    700024: ("the client assertion is outside its valid time range", "check this machine's clock"),
    70011: (
        "the scope {scope} is not valid",
        "check that REWIND_CLOUD (or REWIND_GRAPH_URL) matches the tenant",
    ),
}


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _codes(result: Mapping[str, Any]) -> list[int]:
    codes = [int(c) for c in result.get("error_codes") or [] if str(c).isdigit()]
    if not codes:
        codes = [int(c) for c in _AADSTS.findall(str(result.get("error_description", "")))]
    return codes


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    text = re.split(r" Trace ID:| Correlation ID:", text)[0]
    return one_line(text.split(". ")[0], 140)


def error_from_result(result: Mapping[str, Any], config: GraphConfig) -> GraphError:
    """The error for an MSAL result dict without ``access_token``."""
    codes = _codes(result)
    fields = {"tenant": config.tenant_id, "client_id": config.client_id, "scope": config.scope}
    for code in codes:
        if code in _KNOWN:
            problem, hint = _KNOWN[code]
            return AuthenticationFailed(
                f"sign-in failed: {problem.format(**fields)} (AADSTS{code})", hint=hint, code=f"AADSTS{code}"
            )
    error = str(result.get("error") or "unknown_error")
    description = _first_sentence(str(result.get("error_description") or ""))
    if isinstance(config.credential, ClientCertificate) and re.search(
        r"certificate|assertion", description, re.I
    ):
        return AuthenticationFailed(
            f"sign-in failed: the client certificate was rejected ({description})", hint=_CERT_HINT
        )
    detail = f"{error}: {description}" if description else error
    return AuthenticationFailed(
        f"sign-in to {_host(config.authority)} failed ({detail})",
        hint="check REWIND_TENANT_ID, REWIND_CLIENT_ID and the client credential",
        code=f"AADSTS{codes[0]}" if codes else error,
    )


def error_from_exception(exc: BaseException, config: GraphConfig) -> GraphError:
    """The error for an exception MSAL (or requests underneath it) raised."""
    host = _host(config.authority)
    if isinstance(exc, GraphError):
        return exc
    if isinstance(exc, requests.exceptions.SSLError):
        return UntrustedCertificate(
            f"the TLS certificate of the sign-in host {host} is not trusted",
            hint="set SSL_CERT_FILE (or REQUESTS_CA_BUNDLE) to your CA bundle",
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return GraphUnreachable(
            f"the sign-in host {host} did not answer in time",
            hint="check the network or HTTPS_PROXY, or try again later",
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        return GraphUnreachable(
            f"cannot reach the sign-in host {host}",
            hint="check REWIND_CLOUD / REWIND_AUTHORITY_HOST, the network, or HTTPS_PROXY",
        )
    if isinstance(exc, requests.exceptions.HTTPError):
        status = exc.response.status_code if exc.response is not None else None
        return GraphError(
            f"the sign-in host {host} failed (HTTP {status})",
            hint="Entra ID is having trouble; try again later",
            kind=ErrorKind.RETRYABLE,
            status=status,
        )
    if isinstance(exc, ValueError):
        # MSAL re-raises discovery failures with a generic message; the AADSTS code is in the original.
        return _from_value_error(f"{exc} {exc.__context__ or ''}", config, host)
    return AuthenticationFailed(
        f"sign-in to {host} failed ({type(exc).__name__})",
        hint="check REWIND_TENANT_ID, REWIND_CLIENT_ID and the client credential",
    )


def _from_value_error(message: str, config: GraphConfig, host: str) -> GraphError:
    # MSAL reports authority problems as ValueError; tell them apart by their wording.
    if "https url" in message:
        return AuthenticationFailed(
            f"the authority {config.authority} is not an https URL",
            hint="set REWIND_AUTHORITY_HOST to an https:// URL (MSAL only talks https)",
        )
    if "invalid_instance" in message:
        return AuthenticationFailed(
            f"{host} is not a known Entra ID sign-in host", hint="check REWIND_CLOUD / REWIND_AUTHORITY_HOST"
        )
    code = "AADSTS90002" if "90002" in message else None
    return AuthenticationFailed(
        f"sign-in failed: tenant {config.tenant_id} was not found at {host}", hint=_TENANT_HINT, code=code
    )
