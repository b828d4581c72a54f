"""What every part of the generator shares: the tenant's identity, seeded randomness, ids and timestamps."""

from __future__ import annotations

import base64
import random
import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

DAY = 86_400
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
# Microsoft's own tenant: the owner organization of first-party service principals and managed identities.
MICROSOFT_SERVICES_TENANT_ID = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"

_VARIANT = "89ab"


def guid(rng: random.Random) -> str:
    """A version-4 GUID drawn from ``rng``: random-looking, yet the same for the same seed."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def iso(ts: float) -> str:
    """Epoch seconds -> Graph's ISO 8601 UTC form, second precision (``2026-10-31T23:59:59Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def b64url_ids(*ids: str) -> str:
    """Graph's key for objects named by other objects (grants, app role assignments): their GUID bytes."""
    raw = b"".join(uuid.UUID(i).bytes_le for i in ids)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def cloud_sid(object_id: str) -> str:
    """The ``S-1-12-1-…`` security identifier Entra derives from a cloud object's id."""
    a, b, c, d = struct.unpack("<4I", uuid.UUID(object_id).bytes_le)
    return f"S-1-12-1-{a}-{b}-{c}-{d}"


def slug(text: str) -> str:
    """Lower-case letters and digits only: mail nicknames, host names."""
    return "".join(c for c in text.lower() if c.isalnum())


@dataclass(frozen=True)
class Tenant:
    """The fixed facts of one generated tenant, handed to every part of the generator."""

    seed: int
    now: int  # epoch seconds; every generated timestamp lies at or before it
    tenant_id: str
    company: str
    initial_domain: str  # <name>.onmicrosoft.com
    custom_domain: str  # verified, the default for new users
    federated_domain: str  # verified, federated with on-premises AD FS
    extension_app_id: str  # appId of the app that owns the directory extension attributes
    created: int  # when the tenant itself was created

    def rng(self, part: str) -> random.Random:
        """An independent stream per part, so resizing one part leaves the others unchanged."""
        return random.Random(f"{self.seed}/{part}")

    def ago(self, rng: random.Random, min_days: float, max_days: float) -> str:
        return iso(self.now - rng.uniform(min_days, max_days) * DAY)

    def since_creation(self, rng: random.Random, settle_days: float = 1.0) -> int:
        """A moment between tenant creation (plus ``settle_days``) and a day ago."""
        return int(rng.uniform(self.created + settle_days * DAY, self.now - DAY))
