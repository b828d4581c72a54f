"""Canonical JSON: one byte string per value, so equal objects hash equal and deduplicate."""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def load_json(data: bytes) -> Any:
    return json.loads(data)
