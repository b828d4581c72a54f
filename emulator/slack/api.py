"""A mock Slack Web API on loopback that records every call (the pattern slack-bolt tests itself with).

``base_url`` goes to ``AsyncWebClient(base_url=...)``. It answers the methods Rewind calls (auth.test,
chat.postMessage / update / postEphemeral, users.info, files.getUploadURLExternal + the upload +
files.completeUploadExternal) and ``response_url`` posts, and can be told to rate-limit a method or to
refuse a channel as Slack does for a channel the bot was removed from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_TOKEN = "xoxb-rewind-test"


@dataclass
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class MockSlack:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    responses: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # response_url posts
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    gone: dict[str, str] = field(default_factory=dict)  # channel -> error (channel_not_found, ...)
    limits: dict[str, list[int]] = field(default_factory=dict)  # method -> Retry-After of the next 429s
    url: str = ""
    _runner: web.AppRunner | None = None
    _ts: int = 0

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.url}/respond/{name}"

    def add_user(self, user: str, *, team: str, name: str, email: str | None, **flags: Any) -> None:
        profile = {"real_name": name, "display_name": name, **({"email": email} if email else {})}
        self.users[user] = {
            "id": user,
            "team_id": team,
            "name": name,
            "real_name": name,
            "profile": profile,
            "deleted": False,
            "is_bot": False,
            **flags,
        }

    def rate_limit(self, method: str, *retry_after: int) -> None:
        self.limits.setdefault(method, []).extend(retry_after)

    # --- reading what was recorded ---------------------------------------------------------------------

    def of(self, method: str) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == method]

    def web_calls(self) -> list[str]:
        return [c.method for c in self.calls if c.method != "auth.test"]

    def uploads(self) -> list[dict[str, Any]]:
        """Completed uploads: channel, thread_ts, title and the file's content."""
        done = []
        for params in self.of("files.completeUploadExternal"):
            for item in json.loads(params["files"]) if isinstance(params["files"], str) else params["files"]:
                stored = self.files.get(item["id"], {})
                done.append(
                    {
                        "channel": params.get("channel_id"),
                        "thread_ts": params.get("thread_ts"),
                        "title": item.get("title"),
                        "content": stored.get("content", b"").decode(),
                        "filename": stored.get("filename"),
                    }
                )
        return done

    # --- serving ---------------------------------------------------------------------------------------

    async def start(self) -> MockSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/respond/{name}", self._respond)
        app.router.add_post("/upload/{file_id}", self._upload)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> MockSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update(dict(await request.post()))
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append(Call(method, params))
        if request.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        pending = self.limits.get(method)
        if pending:
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(pending.pop(0))},
            )
        channel = str(params.get("channel") or params.get("channel_id") or "")
        if channel in self.gone and method.startswith(("chat.", "files.complete")):
            return web.json_response({"ok": False, "error": self.gone[channel]})
        return web.json_response(self._answer(method, params, channel))

    def _answer(self, method: str, params: dict[str, Any], channel: str) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "team_id": "T1",
                "team": "Contoso",
                "user_id": "UREWIND",
                "bot_id": "BREWIND",
                "url": "https://contoso.slack.com/",
            }
        if method == "chat.postMessage":
            self._ts += 1
            ts = f"1700000000.{self._ts:06d}"
            return {
                "ok": True,
                "channel": channel,
                "ts": ts,
                "message": {"ts": ts, "text": params.get("text")},
            }
        if method == "chat.update":
            return {"ok": True, "channel": channel, "ts": params.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": "1700000000.999999"}
        if method == "users.info":
            user = self.users.get(str(params.get("user")))
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        if method == "files.getUploadURLExternal":
            file_id = f"F{len(self.files) + 1:05d}"
            self.files[file_id] = {"filename": params.get("filename"), "content": b""}
            return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = params.get("files")
            items = json.loads(files) if isinstance(files, str) else files or []
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in items]}
        return {"ok": True}

    async def _respond(self, request: web.Request) -> web.Response:
        self.responses.append((request.match_info["name"], await request.json()))
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        data = await request.read()
        self.files.setdefault(file_id, {})["content"] = data
        return web.Response(text="OK")
