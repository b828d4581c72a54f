"""App registrations the token endpoint knows: credentials (secrets, certificates) and granted permissions.

Secrets are kept only as SHA-256 digests and compared in constant time, so no secret can leak through a repr,
a dump or a log line. An app can be granted in several tenants, each with its own set of application
permissions (the ``roles`` its tokens carry there).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator.tokens import thumbprints

_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class CredentialError(ValueError):
    """A certificate or assertion that cannot be used; the message never quotes secret material."""


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def load_certificates(pem: str) -> list[x509.Certificate]:
    """Every certificate in a PEM text, skipping private key blocks (Rewind's PEM holds key + certificate)."""
    blocks = _PEM_CERTIFICATE.findall(pem)
    if not blocks:
        raise CredentialError("certificate_pem holds no PEM certificate")
    try:
        certificates = [x509.load_pem_x509_certificate(block.encode()) for block in blocks]
    except ValueError:
        raise CredentialError("certificate_pem holds a certificate that cannot be parsed") from None
    if not isinstance(certificates[0].public_key(), rsa.RSAPublicKey):
        raise CredentialError("only RSA certificates are supported (client assertions are RS256 or PS256)")
    return certificates


@dataclass
class AppRegistration:
    client_id: str
    display_name: str
    # Tenant id -> application permissions granted (admin-consented) there.
    grants: dict[str, frozenset[str]] = field(default_factory=dict)
    _secret_digests: list[bytes] = field(default_factory=list, repr=False)
    # x5t and x5t#S256 thumbprints -> certificate.
    _certificates: dict[str, x509.Certificate] = field(default_factory=dict, repr=False)

    @property
    def has_secret(self) -> bool:
        return bool(self._secret_digests)

    @property
    def certificate_thumbprints(self) -> list[str]:
        """SHA-1 thumbprints in hex, as the Entra portal shows them."""
        unique = {id(c): c for c in self._certificates.values()}.values()
        sha1 = hashes.SHA1()  # noqa: S303 - the portal shows SHA-1 thumbprints
        return sorted(c.fingerprint(sha1).hex().upper() for c in unique)

    def add_secret(self, secret: str) -> None:
        digest = _digest(secret)
        if digest not in self._secret_digests:
            self._secret_digests.append(digest)

    def check_secret(self, secret: str) -> bool:
        digest = _digest(secret)
        # Compare against every digest so timing does not reveal which one matched.
        return any([hmac.compare_digest(digest, known) for known in self._secret_digests])

    def add_certificate(self, certificate: x509.Certificate) -> None:
        for thumbprint in thumbprints(certificate):
            self._certificates[thumbprint] = certificate

    def certificate_for(self, header: dict[str, Any]) -> x509.Certificate | None:
        for name in ("x5t#S256", "x5t"):
            value = header.get(name)
            if isinstance(value, str) and value.rstrip("=") in self._certificates:
                return self._certificates[value.rstrip("=")]
        return None

    def verify_assertion(self, assertion: str, *, audiences: set[str], now: float) -> None:
        """Check a client assertion (RFC 7523) signed with one of this app's certificates.

        Raises CredentialError with an Entra-like reason; returns None when the assertion is good.
        """
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise CredentialError("The client assertion is not a well-formed JWT.") from None
        certificate = self.certificate_for(header)
        if certificate is None:
            raise CredentialError(
                "The certificate with identifier used to sign the client assertion is not registered on "
                "application."
            )
        if header.get("alg") not in ("RS256", "PS256"):
            raise CredentialError("The client assertion must be signed with RS256 or PS256.")
        try:
            claims = jwt.decode(
                assertion,
                certificate.public_key(),  # type: ignore[arg-type]
                algorithms=["RS256", "PS256"],
                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            raise CredentialError("Client assertion failed signature validation.") from None
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= now - 300:  # Entra allows five minutes of clock skew
            raise CredentialError("Client assertion is not within its valid time range.")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf > now + 300:
            raise CredentialError("Client assertion is not within its valid time range.")
        if claims.get("aud") not in audiences:
            raise CredentialError("Client assertion audience claim does not match Realm issuer.")
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            raise CredentialError("Client assertion issuer and subject must both be the client id.")


class AppRegistry:
    """Registrations by client id (case-insensitive, like Entra's GUIDs)."""

    def __init__(self) -> None:
        self._apps: dict[str, AppRegistration] = {}

    def get(self, client_id: str) -> AppRegistration | None:
        return self._apps.get(client_id.lower())

    def all(self) -> list[AppRegistration]:
        return list(self._apps.values())

    def register(
        self,
        client_id: str,
        *,
        display_name: str | None = None,
        client_secret: str | None = None,
        certificate_pem: str | None = None,
    ) -> AppRegistration:
        """Add an app, or a credential to an existing one; tenants grant it via ``AppRegistration.grants``."""
        certificates = load_certificates(certificate_pem) if certificate_pem else []
        app = self._apps.get(client_id.lower())
        if app is None:
            app = AppRegistration(client_id=client_id, display_name=display_name or f"App {client_id[:8]}")
            self._apps[client_id.lower()] = app
        elif display_name:
            app.display_name = display_name
        if client_secret:
            app.add_secret(client_secret)
        for certificate in certificates:
            app.add_certificate(certificate)
        return app
