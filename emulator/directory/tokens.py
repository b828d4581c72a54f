"""Opaque, HMAC-signed paging and delta tokens: clients can't forge a cursor or another tenant's token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

_SIG_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "TokenSigner(<key hidden>)"

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_SIG_BYTES]

    def sign(self, payload: dict[str, Any]) -> str:
        raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return _b64(raw) + "." + _b64(self._mac(raw))

    def verify(self, token: str) -> dict[str, Any] | None:
        """The payload if the token is ours and intact, else None."""
        body, _, sig = token.partition(".")
        try:
            raw = _unb64(body)
            given = _unb64(sig)
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(given, self._mac(raw)):
            return None
        try:
            payload = json.loads(raw)
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None
