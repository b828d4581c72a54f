"""Access tokens for Graph: the TokenProvider seam and its MSAL implementation."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import msal
import requests
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

from core.graph.certificate import load_certificate
from core.graph.config import ClientCertificate, GraphConfig
from core.graph.errors import GraphError
from core.graph.signin_errors import error_from_exception, error_from_result


class TokenProvider(Protocol):
    async def access_token(self) -> str: ...


class _TimeoutAdapter(HTTPAdapter):
    """MSAL sets no timeout on a caller's session; without one a dead login host hangs forever."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(max_retries=1)
        self._timeout_s = timeout_s

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> Response:
        return super().send(request, stream, timeout or self._timeout_s, verify, cert, proxies)


def build_session(config: GraphConfig) -> requests.Session:
    """A session that ignores REQUESTS_CA_BUNDLE and friends: trust and proxies are explicit."""
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE silently overrides verify=
    session.verify = config.ca_bundle or True
    session.proxies = requests.utils.get_environ_proxies(config.authority)
    adapter = _TimeoutAdapter(config.timeout_s)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class MsalTokenProvider:
    """Client-credentials tokens via ``msal.ConfidentialClientApplication`` with MSAL's in-memory cache.

    MSAL is synchronous and does network I/O (even in its constructor), so every call runs in a worker thread.
    """

    def __init__(self, config: GraphConfig) -> None:
        self._config = config
        credential = config.credential
        if isinstance(credential, ClientCertificate):
            self._msal_credential: str | dict[str, str] = load_certificate(credential).msal_credential(
                credential.passphrase
            )
        else:
            self._msal_credential = credential.value
        self.session = build_session(config)
        self._app: Any = None
        self._lock = threading.Lock()  # one sign-in at a time; the rest then hit MSAL's cache
        self._memo: tuple[str, float] = ("", 0.0)  # token and when to stop using it (monotonic)

    def __repr__(self) -> str:
        return (
            f"MsalTokenProvider(authority={self._config.authority!r}, client_id={self._config.client_id!r})"
        )

    async def access_token(self) -> str:
        # Most calls are answered here, without a thread hop: a backup sends thousands of requests.
        token, good_until = self._memo
        if token and time.monotonic() < good_until:
            return token
        return await asyncio.to_thread(self._acquire)

    async def invalidate(self) -> None:
        """Forget cached tokens so the next call signs in again (after Graph answered 401)."""
        self._memo = ("", 0.0)
        await asyncio.to_thread(self._forget)

    def close(self) -> None:
        self.session.close()

    def _build_app(self) -> Any:
        host = urlsplit(self._config.authority).hostname or ""
        return msal.ConfidentialClientApplication(
            self._config.client_id,
            client_credential=self._msal_credential,
            authority=self._config.authority,
            http_client=self.session,
            # Discovery asks login.microsoftonline.com about the host: only meaningful for Microsoft's hosts.
            instance_discovery=host in msal.authority.WELL_KNOWN_AUTHORITY_HOSTS,
            token_cache=msal.TokenCache(),
        )

    def _acquire(self) -> str:
        with self._lock:
            try:
                if self._app is None:
                    self._app = self._build_app()
                result = self._app.acquire_token_for_client(scopes=[self._config.scope])
            except GraphError:
                raise
            except Exception as exc:
                raise error_from_exception(exc, self._config) from None
        if isinstance(result, dict) and isinstance(result.get("access_token"), str):
            token = str(result["access_token"])
            lifetime = float(result.get("expires_in") or 0)
            # Renew five minutes early; MSAL's own cache still decides whether that means a new sign-in.
            self._memo = (token, time.monotonic() + max(0.0, lifetime - 300))
            return token
        raise error_from_result(result if isinstance(result, dict) else {}, self._config)

    def _forget(self) -> None:
        with self._lock:
            if self._app is not None:
                self._app.remove_tokens_for_client()
