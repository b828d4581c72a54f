"""Read and check the client certificate PEM up front, so a bad file fails with a clear message."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from core.graph.config import ClientCertificate
from core.graph.errors import AuthenticationFailed

_KEY_BLOCK = re.compile(
    rb"-----BEGIN (?P<kind>(?:RSA |ENCRYPTED )?PRIVATE KEY)-----.+?-----END (?P=kind)-----", re.DOTALL
)
_HINT = "set REWIND_CLIENT_CERTIFICATE to one PEM file holding the app's RSA private key and its certificate"


@dataclass(frozen=True)
class LoadedCertificate:
    private_key_pem: str = field(repr=False)
    certificate_pem: str
    thumbprint: str  # SHA-1 hex, what MSAL sends as x5t

    def msal_credential(self, passphrase: str | None) -> dict[str, str]:
        credential = {
            "private_key": self.private_key_pem,
            "thumbprint": self.thumbprint,
            "public_certificate": self.certificate_pem,  # MSAL sends it as x5c
        }
        if passphrase:
            credential["passphrase"] = passphrase
        return credential


def load_certificate(credential: ClientCertificate) -> LoadedCertificate:
    path = Path(credential.pem_path)  # tolerate a str from callers that skip the type
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AuthenticationFailed(
            f"cannot read the client certificate file {path} ({exc.strerror or type(exc).__name__})",
            hint=_HINT,
        ) from None
    block = _KEY_BLOCK.search(data)
    if block is None:
        raise AuthenticationFailed(f"the client certificate file {path} holds no private key", hint=_HINT)
    password = credential.passphrase.encode() if credential.passphrase else None
    try:
        key = serialization.load_pem_private_key(block.group(0), password=password)
    except TypeError:
        problem = "is encrypted but no passphrase was given" if password is None else "is not encrypted"
        raise AuthenticationFailed(f"the private key in {path} {problem}", hint=_HINT) from None
    except ValueError:
        raise AuthenticationFailed(
            f"the private key in {path} cannot be read (wrong passphrase or damaged PEM)", hint=_HINT
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AuthenticationFailed(f"the private key in {path} is not an RSA key", hint=_HINT)
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise AuthenticationFailed(
            f"the client certificate file {path} holds no certificate", hint=_HINT
        ) from None
    public = key.public_key().public_numbers()
    matching = [c for c in certificates if _public_numbers(c) == public]
    if not matching:
        raise AuthenticationFailed(f"no certificate in {path} matches its private key", hint=_HINT)
    certificate = matching[0]
    return LoadedCertificate(
        private_key_pem=block.group(0).decode("ascii"),
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        # x5t is defined as the SHA-1 thumbprint; this is an identifier, not a security hash.
        thumbprint=certificate.fingerprint(hashes.SHA1()).hex(),  # noqa: S303
    )


def _public_numbers(certificate: x509.Certificate) -> rsa.RSAPublicNumbers | None:
    key = certificate.public_key()
    return key.public_numbers() if isinstance(key, rsa.RSAPublicKey) else None
