"""The worker: fires due timers and delivers the outbox, after the commits that wrote them.

Safe with several processes: timers and outbox rows are leased with row locks (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL; SQLite takes the whole database per transaction). A message is
marked sent only after the channel took it, so a killed process loses nothing; after a restart
its leased rows are taken again when their lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.app import App
from bot.core.events import Button, Outbound
from storage.repository import Pending

log = logging.getLogger(__name__)
Send = Callable[[object, Outbound], Awaitable[bool]]


def outbound_of(pending: Pending) -> Outbound:
    message = pending.message
    return Outbound(key=pending.key, text=message["text"], state=message.get("state", ""),
                    buttons=tuple(Button(label=b["label"], payload=b["payload"])
                                  for b in message.get("buttons", ())))


class Worker:
    def __init__(self, app: App, send: Send, *, channel: str | None = None,
                 keys: Sequence[str] | None = None) -> None:
        self.app = app
        self.send = send
        self.channel = channel
        self.keys = keys

    async def run_once(self) -> int:
        """Fire due timers, then deliver what is waiting; returns how many were delivered."""
        repository, now = self.app.repository, self.app.clock()
        await repository.fire_timers(now, self.app.engine.fire_timer)
        pending = await repository.lease_outbox(now, channel=self.channel, keys=self.keys)
        done: list[int] = []
        for item in pending:
            address = self.app.addresses.open(item.address) if item.address else None
            if address is None:
                log.warning("outbox %d: no address for its conversation; dropped", item.id)
                done.append(item.id)
                continue
            try:
                if await self.send(address, outbound_of(item)):
                    done.append(item.id)
            except Exception:
                log.exception("outbox %d: delivery failed; it will be retried", item.id)
        await repository.mark_sent(done)
        return len(done)

    async def run_forever(self, stop: asyncio.Event, interval: float = 1.0,
                          wake: asyncio.Event | None = None) -> None:
        """Rounds every ``interval`` seconds, or at once when ``wake`` is set, until ``stop``."""
        wake = wake or asyncio.Event()
        while not stop.is_set():
            wake.clear()
            try:
                await self.run_once()
            except Exception:
                log.exception("worker round failed")
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
