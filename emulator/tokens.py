"""Access tokens: the emulator's RS256 signing key, its JWKS entry, and issuing and verifying app-only tokens.

Tokens look like Entra's v1.0 app-only tokens for Graph (``iss`` ``https://sts.windows.net/{tid}/``,
``idtyp`` ``app``, ``roles``), signed by a key published at ``/{tenant}/discovery/v2.0/keys``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

# Graph's own application id: real tokens for Graph may carry it as ``aud``.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class TokenError(Exception):
    """An access token Graph would refuse; the message is safe to return (it never quotes the token)."""


@dataclass(frozen=True)
class AccessToken:
    """The verified claims of a bearer token."""

    tenant_id: str
    app_id: str
    app_display_name: str
    service_principal_id: str
    roles: frozenset[str]
    claims: dict[str, Any] = field(repr=False, compare=False)


class SigningKey:
    """An RSA key with a self-signed certificate; ``kid`` and ``x5t`` are its SHA-1 thumbprint, like Entra."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Rewind emulator token signing")])
        now = dt.datetime.now(dt.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .sign(self._key, hashes.SHA256())
        )
        self.kid = b64url(self.certificate.fingerprint(hashes.SHA1()))  # noqa: S303 - Entra's kid is SHA-1

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"

    def jwk(self, issuer: str) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
            "x5c": [base64.b64encode(der).decode()],
            "issuer": issuer,
        }

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "x5t": self.kid})

    def issue(
        self,
        *,
        tenant_id: str,
        app_id: str,
        app_display_name: str,
        service_principal_id: str,
        roles: Collection[str],
        audience: str,
        now: float,
        lifetime_s: int,
        credential: str,
    ) -> str:
        """An app-only access token; ``credential`` is ``secret`` or ``certificate`` (``appidacr`` 1 or 2)."""
        issued = int(now)
        sts = f"https://sts.windows.net/{tenant_id}/"
        return self.sign(
            {
                "aud": audience,
                "iss": sts,
                "iat": issued,
                "nbf": issued,
                "exp": issued + lifetime_s,
                "app_displayname": app_display_name,
                "appid": app_id,
                "appidacr": "2" if credential == "certificate" else "1",
                "idp": sts,
                "idtyp": "app",
                "oid": service_principal_id,
                "sub": service_principal_id,
                "roles": sorted(roles),
                "tid": tenant_id,
                "uti": b64url(uuid.uuid4().bytes),
                "ver": "1.0",
            }
        )

    def verify(self, token: str, *, audiences: Collection[str], now: float) -> AccessToken:
        """The claims of a token this key signed, or TokenError with Graph's reason."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("Invalid JWT token. The token is malformed.") from None
        if header.get("kid") != self.kid:
            raise TokenError("Access token validation failure. Invalid signature.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            raise TokenError("Access token validation failure. Invalid signature.") from None
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
            raise TokenError("Lifetime validation failed, the token is expired.")
        if isinstance(claims.get("nbf"), int) and claims["nbf"] > now + 300:
            raise TokenError("Lifetime validation failed, the token is not yet valid.")
        if claims.get("aud") not in audiences:
            raise TokenError("Access token validation failure. Invalid audience.")
        tenant_id = claims.get("tid")
        if not isinstance(tenant_id, str) or claims.get("iss") != f"https://sts.windows.net/{tenant_id}/":
            raise TokenError("Access token validation failure. Invalid issuer.")
        if claims.get("idtyp") != "app":
            raise TokenError("Access token validation failure. Only app-only tokens are emulated.")
        roles = claims.get("roles", [])
        return AccessToken(
            tenant_id=tenant_id,
            app_id=str(claims.get("appid", "")),
            app_display_name=str(claims.get("app_displayname", "")),
            service_principal_id=str(claims.get("oid", "")),
            roles=frozenset(r for r in roles if isinstance(r, str))
            if isinstance(roles, list)
            else frozenset(),
            claims=claims,
        )


def thumbprints(certificate: x509.Certificate) -> tuple[str, str]:
    """``x5t`` (base64url SHA-1) and ``x5t#S256`` (base64url SHA-256) of a certificate."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    return b64url(hashlib.sha1(der).digest()), b64url(hashlib.sha256(der).digest())  # noqa: S324 - x5t is SHA-1
