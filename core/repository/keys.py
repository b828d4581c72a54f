"""Repository keys: what a person supplies, and the key files that wrap the master keys.

A key file (``keys/<sha256 of its bytes>``) is JSON: a KDF with its parameters and salt, and the master
material (encryption key, id key, repository id) sealed with AES-256-GCM under the derived key. Several key
files may wrap the same material, so a passphrase and a raw key can both open one repository.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import ConfigurationError
from core.repository.crypto import KEY_SIZE, NONCE_SIZE, CorruptData

SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1


@dataclass(frozen=True, repr=False)
class Passphrase:
    text: str

    def __post_init__(self) -> None:
        if not self.text:
            raise ConfigurationError("REWIND_REPOSITORY_PASSPHRASE is empty: set a passphrase or unset it")

    def __repr__(self) -> str:
        return "Passphrase(***)"


@dataclass(frozen=True, repr=False)
class RawKey:
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) != KEY_SIZE:
            raise ConfigurationError("REWIND_REPOSITORY_KEY must be 32 random bytes in base64")

    @classmethod
    def from_base64(cls, text: str) -> RawKey:
        try:
            return cls(base64.b64decode(text.strip(), validate=True))
        except (binascii.Error, ValueError):
            raise ConfigurationError(
                "REWIND_REPOSITORY_KEY is not base64: make one with `openssl rand -base64 32`"
            ) from None

    def __repr__(self) -> str:
        return "RawKey(***)"


RepositoryKey = Passphrase | RawKey


@dataclass(frozen=True, repr=False)
class MasterKeys:
    encryption_key: bytes
    id_key: bytes
    repository_id: str

    @classmethod
    def generate(cls, repository_id: str) -> MasterKeys:
        return cls(os.urandom(KEY_SIZE), os.urandom(KEY_SIZE), repository_id)

    def __repr__(self) -> str:
        return f"MasterKeys(repository={self.repository_id})"


def wrap(master: MasterKeys, key: RepositoryKey) -> bytes:
    """A new key file's bytes: scrypt for a passphrase, HKDF for a raw key (already full-strength)."""
    salt = os.urandom(16)
    params: dict[str, object]
    if isinstance(key, Passphrase):
        params = {"kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}
    else:
        params = {"kdf": "hkdf-sha256"}
    params["salt"] = _b64(salt)
    material = json.dumps(
        {
            "encryption_key": _b64(master.encryption_key),
            "id_key": _b64(master.id_key),
            "repository": master.repository_id,
        }
    ).encode()
    nonce = os.urandom(NONCE_SIZE)
    sealed = nonce + AESGCM(_derive(key, params)).encrypt(nonce, material, None)
    return json.dumps({"version": 1, **params, "data": _b64(sealed)}, sort_keys=True).encode()


def unwrap(key_file: bytes, key: RepositoryKey) -> MasterKeys | None:
    """The master keys, or None when this key does not open this key file."""
    try:
        params = json.loads(key_file)
        sealed = base64.b64decode(params["data"])
        if (params["kdf"] == "scrypt") != isinstance(key, Passphrase):
            return None
        derived = _derive(key, params)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise CorruptData("a key file is malformed: restore keys/ from a copy or add a key again") from None
    try:
        material = json.loads(AESGCM(derived).decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], None))
    except InvalidTag:
        return None
    return MasterKeys(
        base64.b64decode(material["encryption_key"]),
        base64.b64decode(material["id_key"]),
        str(material["repository"]),
    )


def _derive(key: RepositoryKey, params: dict[str, object]) -> bytes:
    salt = base64.b64decode(str(params["salt"]))
    if isinstance(key, Passphrase):
        n, r, p = int(str(params["n"])), int(str(params["r"])), int(str(params["p"]))
        if n < 2**14 or n > 2**22 or r < 1 or p < 1:
            raise ValueError("scrypt parameters out of range")
        return hashlib.scrypt(
            key.text.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 2**20, dklen=KEY_SIZE
        )
    if params["kdf"] != "hkdf-sha256":
        raise ValueError("unknown kdf")
    return HKDF(hashes.SHA256(), KEY_SIZE, salt, b"rewind key file").derive(key.key)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
