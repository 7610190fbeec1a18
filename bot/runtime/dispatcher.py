"""Handling inbound events: group commit through the repository, then the replies.

Logs carry the pseudonym's first characters, counts and durations; never message text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.core.engine import Engine
from bot.core.events import Inbound, Outbound, StepResult
from storage.repository import Repository

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reply:
    """What to send for one inbound event, and how risky that event was."""

    messages: tuple[Outbound, ...]
    risk: str


class Dispatcher:
    def __init__(self, engine: Engine, repository: Repository) -> None:
        self.engine = engine
        self.repository = repository

    async def handle(self, events: Sequence[Inbound],
                     addresses: Mapping[str, bytes] | None = None) -> list[Reply]:
        """Replies for each event, in order; only after the batch has committed.
        ``addresses``: sealed channel addresses of conversations that may not have one stored."""
        if not events:
            return []
        started = time.perf_counter()
        try:
            results: list[StepResult | None] = await self.repository.process(
                events, self.engine.step, addresses)
        except Exception:
            log.exception("batch of %d events failed to commit", len(events))
            results = [None] * len(events)
        log.debug("batch of %d events in %.1f ms", len(events),
                  (time.perf_counter() - started) * 1000)
        return [Reply(result.outbound, result.risk) if result is not None
                else self._failed(event) for event, result in zip(events, results, strict=True)]

    def _failed(self, event: Inbound) -> Reply:
        """A message we could not handle may mean danger: apologise with the help contacts, and
        screen it so the channel still knows its risk."""
        risk = "none"
        if self.engine.screener is not None and event.text:
            risk = self.engine.screener.assess(event.text).level.label
        return Reply((self.engine.apology(event.key),), risk)
