"""Suite-wide set-up: quiet structured logs unless a test asks for them."""

from __future__ import annotations

from core.logs import configure_logging

configure_logging("WARNING", json=True)
