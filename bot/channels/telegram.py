"""The Telegram channel: python-telegram-bot around the engine, polling or webhook.

Theory of operation:
- One ``TypeHandler`` turns every update into an ``Inbound`` (``to_inbound``); the engine does
  the rest. A user is known only by the keyed pseudonym of their Telegram id; their chat id is
  kept encrypted, to reply. Names, usernames, phone numbers, shared contacts and locations are
  never stored or logged.
- Updates run concurrently across chats and strictly in order within one chat
  (``PerChatOrder``). PTB's ``AIORateLimiter`` keeps within Telegram's flood limits and honours
  ``RetryAfter``; a user who blocked the bot (``Forbidden``) becomes a ``blocked`` signal.
- A pressed button is answered (``answerCallbackQuery``) at once; the same button of the same
  message pressed again within seconds is not acted on twice.
- Any error is logged without message text; the user gets a short apology with help contacts.
- The worker (outbox and timers) runs beside the application and sends through the same bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram._utils.defaultvalue import DEFAULT_NONE, DefaultValue
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    BaseUpdateProcessor,
    ContextTypes,
    ExtBot,
    TypeHandler,
)

from bot.app import App
from bot.core.events import Inbound, Outbound
from bot.runtime.worker import Worker

log = logging.getLogger(__name__)
CHANNEL = "telegram"
MAX_TEXT = 4096
REPEAT_WINDOW = 5.0  # seconds in which the same button of the same message counts once
SEND_ATTEMPTS = 3
MEDIA_KINDS = ("photo", "sticker", "voice", "video", "video_note", "audio", "document",
               "animation", "location", "venue", "contact", "poll", "dice")
COMMANDS = {
    "zh": [("start", "重新开始"), ("menu", "回到菜单"), ("help", "帮助"), ("human", "找真人老师"),
           ("lang", "切换语言 / language"), ("forget", "删除我的对话记录")],
    "en": [("start", "Start over"), ("menu", "Back to the menu"), ("help", "Help"),
           ("human", "Talk to a person"), ("lang", "Language / 语言"),
           ("forget", "Delete my conversation")],
}


class PerChatOrder(BaseUpdateProcessor):
    """Concurrent across chats, one at a time and in order within a chat."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        try:
            async with lock:
                await coroutine
        finally:
            if not lock.locked():
                self._locks.pop(chat.id, None)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


class TolerantBot(ExtBot):
    """An ExtBot whose ``get_updates`` survives an update it cannot read.

    PTB parses a whole batch at once: one malformed update fails the batch, the updater asks for
    the same batch again forever, and PTB logs the raw batch (message text included) at CRITICAL.
    Here each update is read on its own; one that cannot be read becomes an empty ``Update``
    with its id (so the offset moves on) and is logged by id only.
    """

    async def get_updates(  # type: ignore[override]
        self, offset: int | None = None, limit: int | None = None,
        timeout: float | None = None, allowed_updates: Any = None, *,
        read_timeout: Any = DEFAULT_NONE, write_timeout: Any = DEFAULT_NONE,
        connect_timeout: Any = DEFAULT_NONE, pool_timeout: Any = DEFAULT_NONE,
        api_kwargs: dict[str, Any] | None = None,
    ) -> tuple[Update, ...]:
        base = (self._request[0].read_timeout if isinstance(read_timeout, DefaultValue)
                else read_timeout) or 0
        seconds = timeout.total_seconds() if hasattr(timeout, "total_seconds") else (timeout or 0)
        result = await self._post(
            "getUpdates",
            {"timeout": timeout, "offset": offset, "limit": limit,
             "allowed_updates": allowed_updates},
            read_timeout=base + seconds, write_timeout=write_timeout,
            connect_timeout=connect_timeout, pool_timeout=pool_timeout, api_kwargs=api_kwargs)
        updates = []
        for raw in result or ():
            try:
                update = Update.de_json(raw, self)
            except Exception as exc:
                log.warning("update %s could not be read (%s); skipped",
                            raw.get("update_id"), type(exc).__name__)
                update = Update(update_id=int(raw.get("update_id", 0)))
            self.insert_callback_data(update)
            updates.append(update)
        return tuple(updates)


@dataclass(frozen=True, slots=True)
class Parsed:
    inbound: Inbound
    chat_id: int
    callback_id: str | None = None
    repeat_key: tuple[int, str] | None = None


def _media(message: Message) -> str | None:
    return next((kind for kind in MEDIA_KINDS if getattr(message, kind, None)), None)


def to_inbound(update: Update, app: App, team_chat: int | None = None) -> Parsed | None:
    """The update as an ``Inbound``, or None for what the bot does not handle (channel posts,
    group messages, updates without a user). A button pressed in the counselors' group chat
    (``team_chat``) acts for the counselor who pressed it, who is answered privately."""
    now = app.clock()
    query = update.callback_query
    if query is not None:
        chat = query.message.chat if query.message is not None else None
        if query.from_user is None or chat is None:
            return None
        in_team = team_chat is not None and chat.id == team_chat
        if chat.type != "private" and not in_team:
            return None
        key = app.pseudonyms.key(CHANNEL, str(query.from_user.id))
        message_id = query.message.message_id if query.message is not None else 0
        data = query.data if isinstance(query.data, str) else ""
        return Parsed(Inbound(channel=CHANNEL, key=key, at=now, button=data,
                              language_hint=query.from_user.language_code),
                      chat_id=query.from_user.id if in_team else chat.id,
                      callback_id=query.id, repeat_key=(message_id, data))
    message = update.message or update.edited_message
    if message is None or message.from_user is None or message.chat.type != "private":
        return None
    key = app.pseudonyms.key(CHANNEL, str(message.from_user.id))
    text = message.text if message.text is not None else message.caption
    media = None if message.text is not None else (_media(message) or "other")
    return Parsed(Inbound(channel=CHANNEL, key=key, at=now, text=text, media=media,
                          edited=update.edited_message is not None,
                          language_hint=message.from_user.language_code),
                  chat_id=message.chat.id)


def keyboard(message: Outbound) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label[:64], callback_data=b.payload)]
                                 for b in message.buttons])


class TelegramChannel:
    """Sends and receives for one ``App`` through one PTB ``Application``."""

    def __init__(self, app: App, application: Application, team_chat: int | None = None) -> None:
        self.app = app
        self.application = application
        self.team_chat = team_chat  # the counselors' group chat, if there is one
        self._recent: OrderedDict[tuple[str, tuple[int, str]], float] = OrderedDict()
        self._announced: OrderedDict[str, float] = OrderedDict()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._worker_task: asyncio.Task[None] | None = None

    async def send(self, chat_id: int, message: Outbound) -> bool:
        """Send one message; False when it cannot be delivered now (it will be retried)."""
        for attempt in range(SEND_ATTEMPTS):
            try:
                await self.application.bot.send_message(chat_id=chat_id,
                                                        text=message.text[:MAX_TEXT] or "…",
                                                        reply_markup=keyboard(message))
                return True
            except Forbidden:
                await self._blocked(message.key)
                return True  # nothing more to do for this message
            except RetryAfter as exc:
                await asyncio.sleep(float(getattr(exc, "retry_after", 1) or 1))
            except (NetworkError, BadRequest) as exc:
                log.warning("send failed (%s), attempt %d", type(exc).__name__, attempt + 1)
                if isinstance(exc, BadRequest):
                    return True  # the same request would fail again
                await asyncio.sleep(0.2 * (attempt + 1))
        return False

    async def _blocked(self, key: str) -> None:
        log.info("a user blocked the bot")
        event = Inbound(channel=CHANNEL, key=key, at=self.app.clock(), signal="blocked")
        await self.app.dispatcher.handle([event])

    async def deliver(self, address: object, message: Outbound) -> bool:
        if not isinstance(address, int):
            return True  # not a Telegram chat: nothing we can do with it
        sent = await self.send(address, message)
        if self.team_chat is not None and any(b.payload.startswith("case:claim:")
                                              for b in message.buttons):
            # a case notification also goes to the counselors' group, once per case although
            # every on-duty counselor gets their own copy; its Claim button works the same
            await self._team_notice(message)
        return sent

    async def _team_notice(self, message: Outbound) -> None:
        key = message.buttons[0].payload
        if key in self._announced:
            return
        self._announced[key] = time.monotonic()
        while len(self._announced) > 1000:
            self._announced.popitem(last=False)
        with contextlib.suppress(TelegramError):
            await self.application.bot.send_message(chat_id=self.team_chat,
                                                    text=message.text[:MAX_TEXT],
                                                    reply_markup=keyboard(message))

    def _repeated(self, key: str, repeat_key: tuple[int, str]) -> bool:
        now = time.monotonic()
        while self._recent and next(iter(self._recent.values())) < now - REPEAT_WINDOW:
            self._recent.popitem(last=False)
        if (key, repeat_key) in self._recent:
            return True
        self._recent[(key, repeat_key)] = now
        return False

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        started = time.perf_counter()
        parsed = to_inbound(update, self.app, self.team_chat)
        if parsed is None:
            log.debug("update %s ignored", update.update_id)
            return
        if parsed.callback_id is not None:
            with contextlib.suppress(TelegramError):
                await self.application.bot.answer_callback_query(parsed.callback_id)
            if parsed.repeat_key and self._repeated(parsed.inbound.key, parsed.repeat_key):
                return
        sealed = {parsed.inbound.key: self.app.addresses.seal(parsed.chat_id)}
        [reply] = await self.app.dispatcher.handle([parsed.inbound], sealed)
        for message in reply.messages:
            await self.send(parsed.chat_id, message)
        log.debug("update %s handled in %.1f ms", update.update_id,
                  (time.perf_counter() - started) * 1000)
        self.wake_worker()  # notifications for counselors go out now, not at the next tick

    def wake_worker(self) -> None:
        """Let the worker deliver the outbox now rather than at its next tick."""
        self._wake.set()

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        log.error("update failed: %s", type(error).__name__,
                  exc_info=(type(error), error, error.__traceback__) if error else None)
        if isinstance(update, Update) and update.effective_chat is not None:
            with contextlib.suppress(TelegramError):
                await self.application.bot.send_message(
                    update.effective_chat.id, self.app.engine.apology("", "zh").text)

    async def post_init(self, application: Application) -> None:
        for lang, commands in COMMANDS.items():
            await application.bot.set_my_commands(
                [BotCommand(name, text) for name, text in commands],
                language_code=None if lang == "en" else lang)
        worker = Worker(self.app, self.deliver, channel=CHANNEL)
        self._worker_task = asyncio.get_running_loop().create_task(
            worker.run_forever(self._stop, interval=1.0, wake=self._wake))

    async def post_stop(self, application: Application) -> None:
        self._stop.set()
        if self._worker_task is not None:
            await self._worker_task


def build_application(app: App, token: str, base_url: str | None = None,
                      *, overall_rate: int = 30,
                      team_chat: int | None = None) -> tuple[Application, TelegramChannel]:
    """The PTB application for ``app``. ``overall_rate``: messages a second for the whole bot
    (Telegram's limit is about 30; 0 turns the overall limiter off, for a local Bot API
    server); group chats keep Telegram's 20 a minute, and ``RetryAfter`` is always honoured."""
    urls: dict[str, str] = {}
    if base_url:
        base = base_url.rstrip("/")
        urls = {"base_url": f"{base}/bot", "base_file_url": f"{base}/file/bot"}
    limiter = AIORateLimiter(overall_max_rate=overall_rate, max_retries=3)
    bot = TolerantBot(token, rate_limiter=limiter, **urls)
    application = (Application.builder().bot(bot).concurrent_updates(PerChatOrder()).build())
    channel = TelegramChannel(app, application, team_chat)
    application.post_init = channel.post_init
    application.post_stop = channel.post_stop
    application.add_handler(TypeHandler(Update, channel.on_update))
    application.add_error_handler(channel.on_error)
    return application, channel
