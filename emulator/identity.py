"""The Entra side: OIDC discovery, the JWKS and the client-credentials token endpoint, with AAD-shaped errors.

MSAL works against these unchanged (``authority=f"{base}/{tenant}"``, ``instance_discovery=False``, over
https): discovery points ``token_endpoint`` at ``{base}/{tenantId}/oauth2/v2.0/token``. Error bodies follow
Entra's ``{"error", "error_description": "AADSTSnnnn: ...", "error_codes": [nnnn], ...}`` and never echo a
secret or an assertion.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from aiohttp import web

from emulator.apps import CLIENT_ASSERTION_TYPE, CredentialError
from emulator.state import STATE, EmulatorState, HostedTenantEntry

_IGNORED_SCOPES = frozenset({"openid", "profile", "offline_access"})


def base_url(request: web.Request) -> str:
    """Scheme, host and port the client used."""
    return f"{request.scheme}://{request.host}"


def aad_error(request: web.Request, status: int, error: str, code: int, description: str) -> web.Response:
    now = dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    trace_id = str(uuid.uuid4())
    correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace_id}\r\n"
        f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{base_url(request)}/error?code={code}",
    }
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


def _tenant_not_found(request: web.Request, name: str, error: str) -> web.Response:
    return aad_error(
        request,
        400,
        error,
        90002,
        f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID and are signing into "
        "the correct cloud. Check with your subscription administrator, this may happen if there are no "
        "active subscriptions for the tenant.",
    )


def _tenant(request: web.Request) -> tuple[EmulatorState, HostedTenantEntry | None, str]:
    state = request.app[STATE]
    name = request.match_info["tenant"]
    return state, state.find_tenant(name), name


async def openid_configuration(request: web.Request) -> web.Response:
    _, entry, name = _tenant(request)
    if entry is None:
        return _tenant_not_found(request, name, "invalid_tenant")
    base, tid = base_url(request), entry.tenant_id
    authority = f"{base}/{tid}"
    document: dict[str, Any] = {
        "token_endpoint": f"{authority}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
        "jwks_uri": f"{authority}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{authority}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{authority}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{authority}/oauth2/v2.0/logout",
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "nbf",
            "tid",
            "oid",
            "roles",
            "appid",
            "idtyp",
        ],
        "tenant_region_scope": "NA",
        "cloud_instance_name": request.host,
        "cloud_graph_host_name": request.host,
        "msgraph_host": request.host,
        "rbac_url": base,
    }
    return web.json_response(document)


async def jwks(request: web.Request) -> web.Response:
    state, entry, name = _tenant(request)
    if entry is None and name.lower() not in ("common", "organizations"):
        return _tenant_not_found(request, name, "invalid_tenant")
    issuer = f"https://sts.windows.net/{entry.tenant_id if entry else '{tenantid}'}/"
    return web.json_response({"keys": [state.signing_key.jwk(issuer)]})


def _scope_resource(scope: str, state: EmulatorState, base: str) -> str | None:
    """The resource of a valid client-credentials scope (``<resource>/.default``), else None."""
    scopes = [s for s in scope.split() if s not in _IGNORED_SCOPES]
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        return None
    resource = scopes[0].removesuffix("/.default").rstrip("/")
    return resource if resource in state.audiences(base) else None


async def token(request: web.Request) -> web.Response:
    state, entry, name = _tenant(request)
    response = await _token(request, state, entry, name)
    if response.status == 200:
        state.counters.tokens_issued += 1
    else:
        state.counters.token_errors += 1
    return response


async def _token(
    request: web.Request, state: EmulatorState, entry: HostedTenantEntry | None, name: str
) -> web.Response:
    if entry is None:
        return _tenant_not_found(request, name, "invalid_request")
    form = await request.post()
    field = {k: v for k, v in form.items() if isinstance(v, str)}
    grant_type = field.get("grant_type", "")
    if grant_type != "client_credentials":
        return aad_error(
            request, 400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
        )
    client_id = field.get("client_id", "")
    if not client_id:
        missing = "The request body must contain the following parameter: 'client_id'."
        return aad_error(request, 400, "invalid_request", 900144, missing)
    app = state.apps.get(client_id)
    if app is None or entry.tenant_id not in app.grants:
        return aad_error(
            request,
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{entry.domain}'. "
            "This can happen if the application has not been installed by the administrator of the tenant or "
            "consented to by any user in the tenant. You may have sent your authentication request to the "
            "wrong tenant.",
        )
    base = base_url(request)
    assertion, secret = field.get("client_assertion"), field.get("client_secret")
    if assertion:
        if field.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            wrong_type = (
                f"The required field 'client_assertion_type' is missing or is not '{CLIENT_ASSERTION_TYPE}'."
            )
            return aad_error(request, 400, "invalid_request", 90014, wrong_type)
        audiences = {f"{base}/{segment}/oauth2/v2.0/token" for segment in (entry.tenant_id, name)}
        try:
            app.verify_assertion(assertion, audiences=audiences, now=state.wall_clock())
        except CredentialError as exc:
            return aad_error(request, 401, "invalid_client", 700027, f"{exc} Client: '{client_id}'.")
        credential = "certificate"
    elif secret:
        if not app.check_secret(secret):
            return aad_error(
                request,
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                f"secret value, not the client secret ID, for a secret added to app '{client_id}'.",
            )
        credential = "secret"
    else:
        missing = (
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."
        )
        return aad_error(request, 401, "invalid_client", 7000218, missing)
    resource = _scope_resource(field.get("scope", ""), state, base)
    if resource is None:
        return aad_error(
            request,
            400,
            "invalid_scope",
            70011,
            "The provided request must include a 'scope' input parameter. The provided value for the input "
            "parameter 'scope' is not valid. Client credential flows must have a scope value with /.default "
            "suffixed to the resource identifier (application ID URI).",
        )
    config = state.config
    access_token = state.signing_key.issue(
        tenant_id=entry.tenant_id,
        app_id=app.client_id,
        app_display_name=app.display_name,
        service_principal_id=entry.tenant.ensure_service_principal(app.client_id, app.display_name),
        roles=app.grants[entry.tenant_id],
        audience=resource,
        now=state.wall_clock(),
        lifetime_s=config.token_lifetime_s,
        credential=credential,
    )
    body = {
        "token_type": "Bearer",
        "expires_in": config.token_lifetime_s,
        "ext_expires_in": config.token_lifetime_s,
        "access_token": access_token,
    }
    return web.json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
    app.router.add_get("/{tenant}/discovery/v2.0/keys", jwks)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
