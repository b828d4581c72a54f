"""The delivery port: where a message goes. Chat adapters implement :class:`Notifier`; the recording and
console destinations here let the whole alert path run (and be tested) without one."""

from __future__ import annotations

import sys
from typing import Protocol, TextIO

from bot.messages import Message
from core.catalog.notify import DestinationRow


class Notifier(Protocol):
    async def send(self, destination: DestinationRow, message: Message) -> None:
        """Deliver ``message`` to ``destination``; raise on failure (the caller records it)."""
        ...


class RecordingNotifier:
    """Keeps every message it is given, in order, as (destination, message) pairs."""

    def __init__(self) -> None:
        self.sent: list[tuple[DestinationRow, Message]] = []

    async def send(self, destination: DestinationRow, message: Message) -> None:
        self.sent.append((destination, message))

    def messages(self, destination_id: str | None = None) -> list[Message]:
        return [m for d, m in self.sent if destination_id is None or d.destination_id == destination_id]

    def clear(self) -> None:
        self.sent.clear()


class ConsoleNotifier:
    """Prints messages as plain text (the demo and the CLI)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    async def send(self, destination: DestinationRow, message: Message) -> None:
        self.show(message, f"{destination.platform} {destination.channel}")

    def show(self, message: Message, heading: str | None = None) -> None:
        out = self.stream or sys.stdout
        if heading:
            out.write(f"── to {heading} ──\n")
        out.write(message.to_text() + "\n")
        out.flush()
