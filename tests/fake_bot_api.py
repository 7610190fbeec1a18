"""An in-process fake of the Telegram Bot API over real HTTP (aiohttp), for PTB's own HTTP stack.

Implements getMe, getUpdates (offset, limit and long-poll timeout), sendMessage,
answerCallbackQuery, editMessageText, editMessageReplyMarkup, setMyCommands, setWebhook,
deleteWebhook and getWebhookInfo; anything else answers 404 like the real API. Failures can be
injected per method: 429 with retry_after, 5xx, 403 (blocked) and slow replies.
Users are simulated with ``message()``, ``press()``, ``edited()`` and ``raw()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456:TEST-token-not-real"


@dataclass
class Failure:
    method: str
    status: int
    times: int = 1
    retry_after: int | None = None
    delay: float = 0.0
    chat_id: int | None = None  # only for this chat (403 for a user who blocked the bot)


@dataclass
class Sent:
    chat_id: int
    text: str
    buttons: list[dict[str, str]]
    message_id: int
    at: float


@dataclass
class FakeBotApi:
    port: int = 0
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)
    commands: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    webhook: str = ""

    def __post_init__(self) -> None:
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._new = asyncio.Event()
        self._sent_event = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # -- server --------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        raw = dict(await request.post()) if request.body_exists else {}
        raw.update(request.query)
        params: dict[str, Any] = {}
        for name, value in raw.items():
            try:
                params[name] = json.loads(value) if isinstance(value, str) else value
            except ValueError:
                params[name] = value
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != TOKEN:
            return self._error(401, "Unauthorized")
        params = await self._params(request)
        self.calls.append(method)
        failure = next((f for f in self.failures if f.method == method and f.times > 0 and (
            f.chat_id is None or int(params.get("chat_id", 0)) == f.chat_id)), None)
        if failure is not None:
            failure.times -= 1
            if failure.delay:
                await asyncio.sleep(failure.delay)
            if failure.status != 200:
                return self._error(failure.status, {
                    429: f"Too Many Requests: retry after {failure.retry_after}",
                    403: "Forbidden: bot was blocked by the user"}.get(failure.status,
                                                                        "Internal Server Error"),
                    {"retry_after": failure.retry_after} if failure.retry_after else None)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return self._error(404, "Not Found: method not found")
        result = await handler(params)
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(status: int, description: str, parameters: dict | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=status)

    # -- methods -------------------------------------------------------------------------------

    async def _api_getMe(self, params: dict) -> dict:  # noqa: N802
        return {"id": 123456, "is_bot": True, "first_name": "Qingxin", "username": "qx_test_bot",
                "can_join_groups": False, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    async def _api_getUpdates(self, params: dict) -> list:  # noqa: N802
        offset = int(params.get("offset") or 0)
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while not self.updates and time.monotonic() < deadline:
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        return self.updates[:limit]

    async def _api_sendMessage(self, params: dict) -> dict:  # noqa: N802
        message_id = next(self._message_ids)
        markup = params.get("reply_markup") or {}
        buttons = [{"text": b["text"], "callback_data": b.get("callback_data", "")}
                   for row in markup.get("inline_keyboard", []) for b in row]
        chat_id = int(params["chat_id"])
        self.sent.append(Sent(chat_id, params.get("text", ""), buttons, message_id,
                              time.monotonic()))
        self._sent_event.set()
        return {"message_id": message_id, "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"}, "text": params.get("text", "")}

    async def _api_answerCallbackQuery(self, params: dict) -> bool:  # noqa: N802
        self.answered.append(str(params.get("callback_query_id")))
        return True

    async def _api_editMessageText(self, params: dict) -> dict:  # noqa: N802
        return {"message_id": int(params.get("message_id", 1)), "date": int(time.time()),
                "chat": {"id": int(params.get("chat_id", 1)), "type": "private"},
                "text": params.get("text", "")}

    async def _api_editMessageReplyMarkup(self, params: dict) -> bool:  # noqa: N802
        return True

    async def _api_setMyCommands(self, params: dict) -> bool:  # noqa: N802
        self.commands[str(params.get("language_code") or "")] = params.get("commands", [])
        return True

    async def _api_setWebhook(self, params: dict) -> bool:  # noqa: N802
        self.webhook = str(params.get("url", ""))
        return True

    async def _api_deleteWebhook(self, params: dict) -> bool:  # noqa: N802
        self.webhook = ""
        return True

    async def _api_getWebhookInfo(self, params: dict) -> dict:  # noqa: N802
        return {"url": self.webhook, "has_custom_certificate": False, "pending_update_count": 0}

    # -- simulated users -----------------------------------------------------------------------

    def raw(self, update: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        self.updates.append({"update_id": update_id, **update})
        self._new.set()
        return update_id

    @staticmethod
    def _user(user_id: int, lang: str | None) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "Secret",
                                "last_name": "Name", "username": f"secret_user_{user_id}"}
        if lang:
            user["language_code"] = lang
        return user

    def message(self, user_id: int, text: str | None = None, lang: str | None = None,
                **extra: Any) -> int:
        message: dict[str, Any] = {"message_id": next(self._message_ids), "date": int(time.time()),
                                   "chat": {"id": user_id, "type": "private"},
                                   "from": self._user(user_id, lang), **extra}
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0,
                                        "length": len(text.split()[0])}]
        return self.raw({"message": message})

    def edited(self, user_id: int, text: str) -> int:
        return self.raw({"edited_message": {
            "message_id": next(self._message_ids), "date": int(time.time()),
            "edit_date": int(time.time()), "chat": {"id": user_id, "type": "private"},
            "from": self._user(user_id, None), "text": text}})

    def press(self, user_id: int, data: str, message_id: int = 1) -> int:
        return self.raw({"callback_query": {
            "id": f"cb{next(self._update_ids)}", "from": self._user(user_id, None),
            "chat_instance": "ci", "data": data,
            "message": {"message_id": message_id, "date": int(time.time()),
                        "chat": {"id": user_id, "type": "private"}, "text": "menu"}}})

    def to(self, chat_id: int) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == chat_id]

    async def wait_for(self, chat_id: int, count: int = 1, timeout: float = 5.0) -> list[Sent]:
        """The messages sent to ``chat_id`` once there are at least ``count``."""
        deadline = time.monotonic() + timeout
        while len(self.to(chat_id)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"chat {chat_id} got {len(self.to(chat_id))} messages, "
                                     f"expected {count}: {[s.text[:40] for s in self.to(chat_id)]}")
            self._sent_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sent_event.wait(), 0.05)
        return self.to(chat_id)
