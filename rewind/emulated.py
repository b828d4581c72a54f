"""Run the tenant emulator as its own process, as a user would: for the demo and the benchmarks."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def emulator_process(
    workdir: Path, *, users: int, seed: int, timeout_s: float = 600
) -> Iterator[dict[str, Any]]:
    """Start ``rewind emulator --tls`` and yield what it wrote to its info file (URLs, ids, credentials)."""
    info_file = workdir / "emulator.json"
    command = [sys.executable, "-m", "rewind.cli", "emulator", "--tls", "--port", str(free_port()),
               "--users", str(users), "--seed", str(seed), "--state-dir", str(workdir),
               "--info-file", str(info_file)]  # fmt: skip
    log_path = workdir / "emulator.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - our own CLI
        try:
            deadline = time.monotonic() + timeout_s
            while not info_file.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the emulator did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.2)
            yield json.loads(info_file.read_text())
        finally:
            proc.terminate()
            proc.wait(timeout=30)
