"""Rewind's Microsoft Graph client: the only way the rest of Rewind talks to Graph.

A small transport seam (``httpx.AsyncBaseTransport``, ``TokenProvider``), typed config, a per-tenant limiter
that keeps requests under Graph's quotas, retries, and classified errors (``GraphError`` and subclasses):
nothing else leaves this package.
"""

from core.graph.auth import MsalTokenProvider, TokenProvider
from core.graph.batch import BatchRequest, BatchResponse
from core.graph.client import GraphClient, GraphResponse
from core.graph.clouds import CLOUDS, Cloud, CloudEndpoints
from core.graph.config import ClientCertificate, ClientSecret, GraphConfig
from core.graph.costs import RequestCost, estimate_cost
from core.graph.delta import DeltaQuery, merge_delta_entries
from core.graph.errors import (
    AuthenticationFailed,
    BadRequest,
    DeltaTokenExpired,
    ErrorKind,
    GraphError,
    GraphUnreachable,
    NotFound,
    PermissionDenied,
    Throttled,
    UntrustedCertificate,
)
from core.graph.limiter import GraphLimiter, shared_limiter
from core.graph.metrics import GraphMetrics
from core.graph.retry import RetryPolicy

__all__ = [
    "CLOUDS",
    "AuthenticationFailed",
    "BadRequest",
    "BatchRequest",
    "BatchResponse",
    "ClientCertificate",
    "ClientSecret",
    "Cloud",
    "CloudEndpoints",
    "DeltaQuery",
    "DeltaTokenExpired",
    "ErrorKind",
    "GraphClient",
    "GraphConfig",
    "GraphError",
    "GraphLimiter",
    "GraphMetrics",
    "GraphResponse",
    "GraphUnreachable",
    "MsalTokenProvider",
    "NotFound",
    "PermissionDenied",
    "RequestCost",
    "RetryPolicy",
    "Throttled",
    "TokenProvider",
    "UntrustedCertificate",
    "estimate_cost",
    "merge_delta_entries",
    "shared_limiter",
]
