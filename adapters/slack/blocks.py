"""The neutral :class:`~bot.messages.Message` as Block Kit, built for a phone and inside Slack's limits.

``text`` (the notification and screen-reader line) is always the title and the key line. Blocks: the title,
the summary (key line first), facts as fields, the items packed into sections of at most 3,000 characters,
"…and N more", at most three buttons (a confirm dialog on the ones that write) and the footer. What cannot
fit in 50 blocks is returned as ``overflow`` lines for the caller to put in a thread or a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.messages import Button, Message

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_FIELD = 2000
MAX_FIELDS = 10
MAX_HEADER = 150
MAX_BUTTON = 30  # Slack allows 75 but truncates around 30 on phones
MAX_TEXT = 3000  # the top-level text: a notification, not a document
MAX_CONTEXT = 10
RESERVED = 4  # blocks kept for "more", actions, footer and slack


@dataclass(frozen=True)
class Rendered:
    text: str
    blocks: list[dict[str, Any]]
    overflow: list[str] = field(default_factory=list)  # item lines that did not fit


def escape(text: str) -> str:
    """Slack's mrkdwn needs only these three escaped; the rest of the text stays as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, MAX_SECTION)}}


def _button(button: Button) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": cut(button.label, MAX_BUTTON), "emoji": True},
        "action_id": button.action_id[:255],
        "value": button.action_id[:2000],
    }
    if button.style:
        element["style"] = button.style
    if button.confirm:
        element["confirm"] = {
            "title": {"type": "plain_text", "text": cut(f"{button.label.rstrip('…')}?", 100)},
            "text": {"type": "plain_text", "text": cut(button.confirm, 300)},
            "confirm": {"type": "plain_text", "text": cut(button.label.rstrip("…"), 30)},
            "deny": {"type": "plain_text", "text": "Cancel"},
            **({"style": "danger"} if button.style == "danger" else {}),
        }
    return element


def item_lines(message: Message) -> list[str]:
    lines = []
    for item in message.items:
        line = f"• {escape(item.text)}"
        if item.detail:
            line += f"\n   _{escape(item.detail)}_"
        if item.link:
            line += f"\n   <{item.link}>"
        lines.append(line)
    return lines


def render(message: Message, *, max_blocks: int = MAX_BLOCKS) -> Rendered:
    key = message.summary[0] if message.summary else ""
    text = cut(f"{message.title}: {key}" if key else message.title, MAX_TEXT)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": cut(message.title, MAX_HEADER), "emoji": True},
        }
    ]
    if message.summary:
        blocks.append(_section("\n".join(escape(line) for line in message.summary)))
    if message.facts:
        fields = [
            {"type": "mrkdwn", "text": cut(f"*{escape(name)}*\n{escape(value)}", MAX_FIELD)}
            for name, value in message.facts[:MAX_FIELDS]
        ]
        blocks.append({"type": "section", "fields": fields})
    overflow: list[str] = []
    budget = max_blocks - len(blocks) - RESERVED
    chunk: list[str] = []
    size = 0
    for line in item_lines(message):
        line = cut(line, MAX_SECTION)
        if chunk and size + len(line) + 1 > MAX_SECTION:
            if budget <= 0:
                overflow.append(line)
                continue
            blocks.append(_section("\n".join(chunk)))
            budget -= 1
            chunk, size = [], 0
        if budget <= 0:
            overflow.append(line)
            continue
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        blocks.append(_section("\n".join(chunk)))
    hidden = message.more + len(overflow)
    if hidden:
        more: dict[str, Any] = _section(f"…and {hidden:,} more")
        if message.more_action:
            more["accessory"] = _button(Button("See all", message.more_action))
        blocks.append(more)
    if message.buttons:
        blocks.append({"type": "actions", "elements": [_button(b) for b in message.buttons[:3]]})
    if message.footer:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(escape(message.footer), 2000)}]}
        )
    return Rendered(text, blocks[:max_blocks], overflow)
