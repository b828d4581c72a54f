"""Run Rewind and the emulator as separate processes, as a user would, and measure what they cost.

The emulator runs its realistic latency and throttling model; Rewind runs as ``rewind ... --json`` in a child
process so its peak RSS (from ``wait4``) is its own. Counters come from the emulator's admin API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from rewind.emulated import emulator_process


@dataclass
class Emulator:
    info: dict[str, Any]
    workdir: Path

    @property
    def tenant_id(self) -> str:
        return str(self.info["tenants"][0]["tenant_id"])

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.info["base_url"], verify=self.info["ca_path"], timeout=600)

    def counters(self) -> dict[str, Any]:
        with self.admin() as client:
            return dict(client.get("/_emulator/counters").json()["totals"])

    def reset_counters(self) -> None:
        with self.admin() as client:
            client.post("/_emulator/counters/reset").raise_for_status()

    def config(self) -> dict[str, Any]:
        with self.admin() as client:
            return dict(client.get("/_emulator/info").json()["config"])

    def dump(self) -> dict[str, Any]:
        with self.admin() as client:
            return dict(client.get(f"/_emulator/tenants/{self.tenant_id}/dump").json())

    def act(self, method: str, path: str, body: Any = None) -> None:
        with self.admin() as client:
            response = client.post(
                f"/_emulator/tenants/{self.tenant_id}/act",
                json={"method": method, "path": path, "body": body},
            )
            response.raise_for_status()

    def env(self, data_dir: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REWIND_")}
        return env | {
            "REWIND_DATA_DIR": str(data_dir),
            "REWIND_TENANT_ID": self.tenant_id,
            "REWIND_CLIENT_ID": self.info["client_id"],
            "REWIND_CLIENT_SECRET": self.info["client_secret"],
            "REWIND_GRAPH_URL": self.info["graph_url"],
            "REWIND_AUTHORITY_HOST": self.info["authority_host"],
            "SSL_CERT_FILE": self.info["ca_path"],
            "REQUESTS_CA_BUNDLE": self.info["ca_path"],
        }


@contextmanager
def emulator(users: int, seed: int = 42) -> Iterator[Emulator]:
    with (
        tempfile.TemporaryDirectory(prefix="rewind-bench-") as tmp,
        emulator_process(Path(tmp), users=users, seed=seed) as info,
    ):
        yield Emulator(info, Path(tmp))


@dataclass
class Measured:
    wall_s: float
    peak_rss_mb: float
    output: Any
    returncode: int


def run_rewind(env: dict[str, str], *args: str) -> Measured:
    """Run ``rewind ARGS --json``; wall time, and peak RSS from the child's own ``VmHWM``.

    ``ru_maxrss`` from ``wait4`` is no good here: Linux carries the forking parent's high-water mark into
    the child, and this process holds a whole tenant dump. ``VmHWM`` belongs to the child's own address
    space and only grows, so polling it loses at most the growth of the last interval.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "rewind.cli", *args, "--json"], env=env, stdout=out, stderr=err
        )
        peak_kb = 0
        while proc.poll() is None:
            peak_kb = max(peak_kb, _hwm_kb(proc.pid))
            time.sleep(0.05)
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"rewind {' '.join(args)} failed ({proc.returncode}): {stderr[-2000:]}")
    return Measured(wall, peak_kb / 1024, json.loads(stdout) if stdout.strip() else None, proc.returncode)


def _hwm_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next((ln for ln in status.splitlines() if ln.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1])


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0
