"""HTTPS for the emulator: a throwaway CA, a server certificate for loopback, and an app client certificate.

MSAL only talks https, so the emulator serves TLS from its own CA; clients trust ``emulator-ca.pem``. The
client certificate (RSA, private key and certificate in one PEM, the format ``REWIND_CLIENT_CERTIFICATE``
takes) is registered for the default app so certificate credentials can be exercised too.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import trustme

CA_FILE = "emulator-ca.pem"
CLIENT_CERT_FILE = "client-cert.pem"


@dataclass(frozen=True)
class TlsMaterial:
    ca_path: Path
    client_certificate_path: Path
    # The client certificate alone (no key), for registering it on an app.
    client_certificate_pem: str = field(repr=False)
    server_context: ssl.SSLContext = field(repr=False)

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts the emulator's CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.ca_path))


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def create_tls(state_dir: Path) -> TlsMaterial:
    """Make the CA, the server certificate and the client certificate, and write the PEM files."""
    state_dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="Rewind Graph emulator")
    server = ca.issue_cert("127.0.0.1", "::1", "localhost", common_name="Rewind Graph emulator")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.configure_cert(context)
    ca_path = state_dir / CA_FILE
    ca.cert_pem.write_to_path(str(ca_path))
    client = ca.issue_cert(
        "rewind-emulator-client.invalid",
        common_name="Rewind emulator client credential",
        key_type=trustme.KeyType.RSA,
    )
    certificate_pem = client.cert_chain_pems[0].bytes()
    client_path = state_dir / CLIENT_CERT_FILE
    _write_private(client_path, client.private_key_pem.bytes() + certificate_pem)
    return TlsMaterial(
        ca_path=ca_path,
        client_certificate_path=client_path,
        client_certificate_pem=certificate_pem.decode(),
        server_context=context,
    )
