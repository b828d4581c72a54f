"""How long Graph takes to answer, and the ways it fails: seeded 5xx, connection resets, slow responses."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from emulator.config import FaultConfig, LatencyConfig
from emulator.protocol import GraphResponse, graph_error

FaultKind = Literal["error", "reset", "slow"]

_ERROR_CODES = {
    500: ("generalException", "An internal server error occurred."),
    502: ("badGateway", "The server received an invalid response from an upstream server."),
    503: ("serviceNotAvailable", "The service is temporarily unavailable. Please retry later."),
    504: ("gatewayTimeout", "The server did not receive a timely response from an upstream server."),
}


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    status: int | None = None
    retry_after_s: int | None = None
    extra_delay_s: float = 0.0

    def response(self) -> GraphResponse:
        """The Graph error an ``error`` fault answers with."""
        status = self.status or 500
        code, message = _ERROR_CODES.get(status, ("generalException", "An error occurred."))
        headers = {"Retry-After": str(self.retry_after_s)} if self.retry_after_s is not None else None
        return graph_error(status, code, message, headers)


class FaultInjector:
    """Draws at most one fault per request from a generator seeded by the config."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)

    def configure(self, config: FaultConfig) -> None:
        if config != self.config:
            self.config = config
            self._rng = random.Random(config.seed)

    def draw(self) -> Fault | None:
        c = self.config
        if not c.enabled:
            return None
        roll = self._rng.random()
        if roll < c.error_rate and c.error_statuses:
            status = self._rng.choice(c.error_statuses)
            with_retry_after = status == 503 and self._rng.random() < c.retry_after_ratio
            return Fault("error", status=status, retry_after_s=c.retry_after_s if with_retry_after else None)
        roll -= c.error_rate
        if roll < c.reset_rate:
            return Fault("reset")
        roll -= c.reset_rate
        if roll < c.slow_rate:
            return Fault("slow", extra_delay_s=c.slow_extra_s)
        return None


class LatencyModel:
    """``base + per_item_s * items`` plus up to ``jitter_ratio`` of it at random; slept, so calls overlap."""

    def __init__(self, config: LatencyConfig) -> None:
        self.config = config
        self._rng = random.Random(0)

    def delay_s(self, *, write: bool, items: int) -> float:
        c = self.config
        if not c.enabled:
            return 0.0
        delay = (c.write_base_s if write else c.read_base_s) + c.per_item_s * max(items, 0)
        return delay * (1.0 + c.jitter_ratio * self._rng.random())

    async def wait(self, *, write: bool, items: int, extra_s: float = 0.0, spent_s: float = 0.0) -> None:
        """Sleep so the response takes the modelled time in all: ``spent_s`` (our own work) counts toward it.

        The model is Graph's response time; the emulator's CPU time on a big page is part of it, not extra.
        """
        delay = self.delay_s(write=write, items=items) + extra_s - spent_s
        if delay > 0:
            await asyncio.sleep(delay)


def abort_connection(request: web.Request) -> None:
    """Drop the client's connection with a TCP reset and no response, as a failing load balancer would."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger 0 turns the close into an RST instead of a graceful FIN.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
