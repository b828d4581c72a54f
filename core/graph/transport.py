"""The HTTP seam: one pooled httpx.AsyncClient, URL resolution, and transport errors mapped to ours."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator, Mapping
from urllib.parse import quote, urlencode

import httpx

from core.graph.config import GraphConfig
from core.graph.errors import ErrorKind, GraphError, GraphUnreachable, UntrustedCertificate, one_line

_VERSIONS = frozenset({"v1.0", "beta"})
_NETWORK_HINT = "check REWIND_GRAPH_URL / REWIND_CLOUD, the network, or HTTPS_PROXY"
_TLS_HINT = "set SSL_CERT_FILE (or REQUESTS_CA_BUNDLE) to your CA bundle"


def build_http_client(config: GraphConfig, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=config.max_concurrency, max_keepalive_connections=config.max_concurrency
    )
    timeout = httpx.Timeout(config.timeout_s)
    if transport is not None:
        # trust_env would mount proxy transports from the environment over the injected one.
        return httpx.AsyncClient(transport=transport, timeout=timeout, limits=limits, trust_env=False)
    try:
        context = ssl.create_default_context(cafile=config.ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise UntrustedCertificate(
            f"cannot load the CA bundle {config.ca_bundle} ({getattr(exc, 'strerror', None) or exc})",
            hint="point SSL_CERT_FILE (or REQUESTS_CA_BUNDLE) at a readable PEM file",
        ) from None
    # trust_env stays on for HTTPS_PROXY/NO_PROXY; the explicit SSLContext makes httpx ignore SSL_CERT_FILE.
    return httpx.AsyncClient(verify=context, timeout=timeout, limits=limits)


class GraphUrls:
    """Resolves paths against ``{graph_url}/{api_version}`` and refuses links to other hosts."""

    def __init__(self, config: GraphConfig) -> None:
        self.root = httpx.URL(config.endpoints().graph_url)
        self.api_root = config.api_root
        self._root_path = self.root.path.rstrip("/")

    def resolve(self, path_or_url: str, params: Mapping[str, str] | None = None) -> httpx.URL:
        if "://" in path_or_url:
            url = httpx.URL(path_or_url)
            if _origin(url) != _origin(self.root):
                raise GraphError(
                    f"refusing to follow a link to {url.scheme}://{url.netloc.decode()}, "
                    f"which is not the configured Graph host {self.root.netloc.decode()}",
                    hint="check REWIND_GRAPH_URL matches the host Graph answers from",
                )
            text = path_or_url
        else:
            text = f"{self.api_root}/{path_or_url.lstrip('/')}"
        if params:
            # Graph documents literal "$" in query names; httpx's own params= would drop an existing query.
            extra = urlencode(list(params.items()), quote_via=quote, safe="$,()'/:@*")
            text = f"{text}{'&' if '?' in text else '?'}{extra}"
        try:
            return httpx.URL(text)
        except (httpx.InvalidURL, ValueError):
            raise GraphError(
                f"{one_line(text, 120)} is not a valid URL", hint="this is a bug in Rewind"
            ) from None

    def relative_path(self, url: httpx.URL) -> str:
        """``users/{id}`` for ``{graph_url}/v1.0/users/{id}?...``: what costs and permissions key on."""
        path = url.path
        if self._root_path and path.startswith(self._root_path):
            path = path[len(self._root_path) :]
        segments = path.strip("/").split("/")
        if segments and segments[0] in _VERSIONS:
            segments = segments[1:]
        return "/".join(segments)


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def transport_error(exc: BaseException, url: httpx.URL) -> GraphError:
    """Our error for a failure to get any response from ``url`` (httpx, ssl or socket exceptions)."""
    host = url.netloc.decode()
    causes = list(_causes(exc))
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or "verification failed"
            return UntrustedCertificate(
                f"the TLS certificate of {host} is not trusted ({reason})", hint=_TLS_HINT
            )
    for cause in causes:
        if isinstance(cause, ssl.SSLError):
            return GraphUnreachable(
                f"the TLS handshake with {host} failed ({cause.reason or 'ssl error'})", hint=_NETWORK_HINT
            )
        if isinstance(cause, socket.gaierror):
            # A name that does not exist won't start existing on retry; a resolver hiccup might.
            kind = ErrorKind.RETRYABLE if cause.errno == socket.EAI_AGAIN else ErrorKind.PERMANENT
            return GraphUnreachable(
                f"cannot resolve the Graph host {url.host}", hint=_NETWORK_HINT, kind=kind
            )
        if isinstance(cause, ConnectionRefusedError):
            return GraphUnreachable(f"the Graph host {host} refused the connection", hint=_NETWORK_HINT)
    if isinstance(exc, httpx.TimeoutException):
        return GraphUnreachable(
            f"the Graph host {host} did not answer in time ({type(exc).__name__})", hint=_NETWORK_HINT
        )
    if isinstance(exc, httpx.ConnectError):
        return GraphUnreachable(f"cannot connect to the Graph host {host}", hint=_NETWORK_HINT)
    if isinstance(exc, httpx.TransportError):
        return GraphUnreachable(f"the connection to {host} broke ({type(exc).__name__})", hint=_NETWORK_HINT)
    return GraphError(f"the request to {host} failed ({type(exc).__name__})", hint="this is a bug in Rewind")
