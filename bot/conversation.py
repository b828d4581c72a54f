"""The chat port the bot talks through: post, update, reply privately, upload. Adapters implement it.

A :class:`Reply` is what a command answers: one message, private (only the person who asked sees it) or in
the channel, with optional follow-ups for its thread and a file for what does not fit on a phone screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.messages import Message


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: str
    title: str


@dataclass(frozen=True)
class Reply:
    message: Message
    private: bool = True
    thread: tuple[Message, ...] = ()  # follow-ups in the reply's thread (channel replies only)
    attachment: Attachment | None = None  # the long form, uploaded into the reply's thread


@dataclass(frozen=True)
class MessageRef:
    """Where a posted message lives, so that it can be updated or threaded later (and after a restart)."""

    platform: str
    channel: str
    message_id: str  # Slack: the message ts; Teams: the activity id
    team: str | None = None

    def to_origin(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "channel": self.channel,
            "message": self.message_id,
            "team": self.team,
        }

    @classmethod
    def from_origin(cls, origin: dict[str, Any] | None) -> MessageRef | None:
        if not origin or not origin.get("channel") or not origin.get("message"):
            return None
        platform, channel = str(origin.get("platform", "")), str(origin["channel"])
        return cls(platform, channel, str(origin["message"]), origin.get("team"))


class Conversation(Protocol):
    """One channel (and, for private replies, the person who asked) on one chat platform."""

    platform: str
    channel: str

    async def post(self, message: Message, *, thread: MessageRef | None = None) -> MessageRef:
        """Post in the channel (or in a thread); raise when the channel cannot be reached."""
        ...

    async def update(self, ref: MessageRef, message: Message) -> None:
        """Replace a posted message for everyone."""
        ...

    async def tell(self, message: Message) -> None:
        """A private reply to the person who asked (never raises for a channel the bot is not in)."""
        ...

    async def upload(self, attachment: Attachment, *, thread: MessageRef | None = None) -> None:
        """Upload a file into the channel (or a thread)."""
        ...


@dataclass
class RecordedConversation:
    """A conversation that keeps everything it is given: for tests of bot/ without a chat platform."""

    platform: str = "test"
    channel: str = "C-TEST"
    posted: list[tuple[MessageRef, Message, MessageRef | None]] = field(default_factory=list)
    updated: list[tuple[MessageRef, Message]] = field(default_factory=list)
    told: list[Message] = field(default_factory=list)
    uploads: list[tuple[Attachment, MessageRef | None]] = field(default_factory=list)

    async def post(self, message: Message, *, thread: MessageRef | None = None) -> MessageRef:
        ref = MessageRef(self.platform, self.channel, str(len(self.posted) + 1))
        self.posted.append((ref, message, thread))
        return ref

    async def update(self, ref: MessageRef, message: Message) -> None:
        self.updated.append((ref, message))

    async def tell(self, message: Message) -> None:
        self.told.append(message)

    async def upload(self, attachment: Attachment, *, thread: MessageRef | None = None) -> None:
        self.uploads.append((attachment, thread))
