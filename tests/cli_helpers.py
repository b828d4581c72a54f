"""Running the real ``rewind`` CLI in a subprocess against an emulated tenant, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from emulator.testing import EmulatorHandle


def env_for(handle: EmulatorHandle, tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    """The environment a user would set for this tenant; an override of None removes the variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REWIND_")}
    env |= {
        "REWIND_DATA_DIR": str(tmp_path / "data"),
        "REWIND_TENANT_ID": handle.tenant_id,
        "REWIND_CLIENT_ID": handle.client_id,
        "REWIND_CLIENT_SECRET": handle.client_secret,
        "REWIND_GRAPH_URL": handle.graph_url,
        "REWIND_AUTHORITY_HOST": handle.authority_host,
        "SSL_CERT_FILE": str(handle.ca_path),
        "REQUESTS_CA_BUNDLE": str(handle.ca_path),
    }
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def rewind(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``rewind ARGS``; never a traceback, and with ``check`` a zero exit code."""
    result = subprocess.run(
        [sys.executable, "-m", "rewind.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in result.stderr, result.stderr
    if check:
        assert result.returncode == 0, result.stderr
    return result


def as_json(env: dict[str, str], *args: str) -> Any:
    return json.loads(rewind(env, *args, "--json").stdout)
