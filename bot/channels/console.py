"""The terminal channel: ``qingxin chat`` for a person and ``qingxin chat --jsonl`` for scripts.

JSON lines protocol (one object a line, UTF-8):
    in:  {"user": ID, "text": "..."}  or  {"user": ID, "button": "PAYLOAD"}   (optional "lang")
    out: {"user": ID, "text": "...", "buttons": [{"label": ..., "payload": ...}], "state": "f.s",
          "risk": "none|low|medium|high|imminent"}   (the risk of the message this answers)
Many users may interleave. A malformed line gets ``stdin line N: why`` on stderr and the stream
goes on. Lines that have arrived together are handled as one group commit; replies are written
only after it commits, in the order the lines came. Messages for other users (a counselor's
notification, a relayed message) come out the same way with that user's ``"user"``, written by
the worker after each group and every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO

from bot.app import App
from bot.core.events import Inbound, Outbound
from bot.runtime.dispatcher import Reply
from bot.runtime.worker import Worker

CHANNEL = "console"
MAX_BATCH = 512


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    user: str | int
    inbound: Inbound


class LineError(ValueError):
    """A JSON line that is not a message; the text says why."""


def parse_line(app: App, number: int, raw: str) -> _Line:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LineError(f"not JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(data, dict):
        raise LineError('expected an object like {"user": 1, "text": "..."}')
    user = data.get("user")
    if isinstance(user, bool) or not isinstance(user, str | int) or user == "":
        raise LineError('"user" must be a non-empty string or an integer')
    text, button = data.get("text"), data.get("button")
    if (text is None) == (button is None):
        raise LineError('give exactly one of "text" or "button"')
    if not isinstance(text if button is None else button, str):
        raise LineError('"text" and "button" must be strings')
    hint = data.get("lang")
    inbound = Inbound(channel=CHANNEL, key=app.pseudonyms.key(CHANNEL, str(user)),
                      at=app.clock(), text=text, button=button,
                      language_hint=hint if isinstance(hint, str) else None)
    return _Line(number, user, inbound)


def reply_json(user: object, message: Outbound, risk: str | None) -> str:
    line = {"user": user, "text": message.text,
            "buttons": [{"label": b.label, "payload": b.payload} for b in message.buttons],
            "state": message.state}
    if risk is not None:
        line["risk"] = risk
    return json.dumps(line, ensure_ascii=False)


async def run_jsonl(app: App, stdin: TextIO, stdout: TextIO, stderr: TextIO,
                    tick: float = 1.0) -> None:
    """Serve the JSON lines protocol until stdin ends."""
    queue: asyncio.Queue[tuple[int, str] | None] = asyncio.Queue()
    _start_reader(stdin, queue)
    lock = asyncio.Lock()  # one writer at a time: replies, then what the worker delivers
    sealed: set[str] = set()

    async def deliver(address: object, message: Outbound) -> bool:
        stdout.write(reply_json(address, message, None) + "\n")
        return True

    worker = Worker(app, deliver, channel=CHANNEL)
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=tick)
            async with lock:
                await worker.run_once()
                stdout.flush()

    ticking = asyncio.create_task(ticker())
    finished = False
    while not finished:
        batch: list[_Line] = []
        item = await queue.get()
        while True:
            if item is None:
                finished = True
                break
            number, raw = item
            if raw.strip():
                try:
                    batch.append(parse_line(app, number, raw))
                except LineError as exc:
                    stderr.write(f"qingxin: stdin line {number}: {exc}\n")
                    stderr.flush()
            if len(batch) >= MAX_BATCH or queue.empty():
                break
            item = queue.get_nowait()
        if batch:
            addresses = {line.inbound.key: app.addresses.seal(line.user) for line in batch
                         if line.inbound.key not in sealed}
            sealed.update(addresses)
            async with lock:
                replies = await app.dispatcher.handle([line.inbound for line in batch], addresses)
                stdout.write("".join(_lines(batch, replies)))
                await worker.run_once()
                stdout.flush()
    stop.set()
    await ticking


def _lines(batch: list[_Line], replies: list[Reply]) -> Iterable[str]:
    for line, reply in zip(batch, replies, strict=True):
        for message in reply.messages:
            yield reply_json(line.user, message, reply.risk) + "\n"


def _start_reader(stdin: TextIO, queue: asyncio.Queue[tuple[int, str] | None]) -> None:
    """Read stdin on a thread, so a slow writer never blocks replies already made."""
    loop = asyncio.get_running_loop()

    def read() -> None:
        try:
            for number, raw in enumerate(stdin, start=1):
                loop.call_soon_threadsafe(queue.put_nowait, (number, raw))
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="qingxin-stdin", daemon=True).start()


async def run_interactive(app: App, user: str, stdin: TextIO, stdout: TextIO) -> None:
    """A chat for a person: numbered buttons, typed as the number or the label."""
    key = app.pseudonyms.key(CHANNEL, user)
    buttons: list[Any] = []

    def show(messages: Iterable[Outbound]) -> None:
        nonlocal buttons
        for message in messages:
            stdout.write(f"\n青心 Qingxin › {message.text}\n")
            if message.buttons:
                buttons = list(message.buttons)
                for number, button in enumerate(buttons, start=1):
                    stdout.write(f"   {number}. {button.label}\n")
        stdout.flush()

    async def deliver(_address: object, message: Outbound) -> bool:
        show([message])
        return True

    worker = Worker(app, deliver, keys=[key])
    stop = asyncio.Event()
    ticking = asyncio.create_task(worker.run_forever(stop))
    address = {key: app.addresses.seal(user)}
    try:
        first = Inbound(channel=CHANNEL, key=key, at=app.clock(), text="")
        show((await app.dispatcher.handle([first], address))[0].messages)
        while True:
            stdout.write("\n你 you › ")
            stdout.flush()
            typed = await asyncio.to_thread(stdin.readline)
            if not typed:
                stdout.write("\n")
                return
            typed = typed.rstrip("\n")
            choice = typed.strip()
            if choice.isdigit() and 1 <= int(choice) <= len(buttons):
                inbound = Inbound(channel=CHANNEL, key=key, at=app.clock(),
                                  button=buttons[int(choice) - 1].payload)
            else:
                inbound = Inbound(channel=CHANNEL, key=key, at=app.clock(), text=typed)
            show((await app.dispatcher.handle([inbound]))[0].messages)
    finally:
        stop.set()
        await ticking
