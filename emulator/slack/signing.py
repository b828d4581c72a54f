"""Requests signed exactly as Slack signs them: ``v0=`` + HMAC-SHA256(secret, ``v0:{ts}:{raw body}``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

FORM = "application/x-www-form-urlencoded"


def signature(secret: str, timestamp: str, body: str) -> str:
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"v0={digest}"


def signed_headers(
    secret: str,
    body: str,
    *,
    content_type: str = FORM,
    timestamp: int | None = None,
    retry: int | None = None,
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature(secret, ts, body),
    }
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    return headers


def command_body(
    text: str,
    *,
    user: str,
    team: str,
    channel: str,
    response_url: str,
    command: str = "/rewind",
    user_name: str = "",
) -> str:
    return urlencode(
        {
            "token": "legacy-unused",
            "team_id": team,
            "team_domain": "contoso",
            "channel_id": channel,
            "channel_name": "secops",
            "user_id": user,
            "user_name": user_name or user,
            "command": command,
            "text": text,
            "api_app_id": "A0REWIND",
            "response_url": response_url,
            "trigger_id": f"trigger-{time.monotonic_ns()}",
        }
    )


def action_body(
    action_id: str,
    *,
    user: str,
    team: str,
    channel: str,
    message_ts: str,
    response_url: str,
    action_ts: str | None = None,
) -> str:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": team, "domain": "contoso"},
        "user": {"id": user, "team_id": team, "username": user},
        "api_app_id": "A0REWIND",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
        "channel": {"id": channel, "name": "secops"},
        "message": {"ts": message_ts, "type": "message"},
        "response_url": response_url,
        "trigger_id": f"trigger-{time.monotonic_ns()}",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "b1",
                "value": action_id,
                "action_ts": action_ts or f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def event_body(event: dict[str, Any], *, event_id: str, team: str) -> str:
    return json.dumps(
        {
            "token": "legacy-unused",
            "team_id": team,
            "api_app_id": "A0REWIND",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
        }
    )


class SignedClient:
    """Posts to a running server's /slack/events as Slack would, signing every request."""

    def __init__(self, session: Any, events_url: str, secret: str, response_url: str) -> None:
        self.session, self.events_url, self.secret, self.response_url = (
            session,
            events_url,
            secret,
            response_url,
        )

    async def post(self, body: str, headers: dict[str, str]) -> tuple[int, str]:
        async with self.session.post(self.events_url, data=body.encode(), headers=headers) as response:
            return response.status, await response.text()

    async def command(
        self,
        text: str,
        *,
        user: str = "UALICE",
        team: str = "T1",
        channel: str = "CSEC",
        retry: int | None = None,
        timestamp: int | None = None,
    ) -> tuple[int, str]:
        body = command_body(text, user=user, team=team, channel=channel, response_url=self.response_url)
        return await self.post(body, signed_headers(self.secret, body, retry=retry, timestamp=timestamp))

    async def click(
        self,
        action_id: str,
        *,
        message_ts: str,
        user: str = "UALICE",
        team: str = "T1",
        channel: str = "CSEC",
    ) -> tuple[int, str]:
        body = action_body(
            action_id,
            user=user,
            team=team,
            channel=channel,
            message_ts=message_ts,
            response_url=self.response_url,
        )
        return await self.post(body, signed_headers(self.secret, body))

    async def event(
        self, event: dict[str, Any], *, event_id: str, team: str = "T1", retry: int | None = None
    ) -> tuple[int, str]:
        body = event_body(event, event_id=event_id, team=team)
        headers = signed_headers(self.secret, body, content_type="application/json", retry=retry)
        return await self.post(body, headers)
