"""Handling inbound events: group commit through the repository, then the replies.

Logs carry the pseudonym's first characters, counts and durations; never message text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from bot.core.engine import Engine
from bot.core.events import Inbound, Outbound, StepResult
from storage.repository import Repository

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, engine: Engine, repository: Repository) -> None:
        self.engine = engine
        self.repository = repository

    async def handle(self, events: Sequence[Inbound]) -> list[tuple[Outbound, ...]]:
        """Replies for each event, in order; only after the batch has committed."""
        if not events:
            return []
        started = time.perf_counter()
        try:
            results: list[StepResult | None] = await self.repository.process(
                events, self.engine.step)
        except Exception:
            log.exception("batch of %d events failed to commit", len(events))
            results = [None] * len(events)
        log.debug("batch of %d events in %.1f ms", len(events),
                  (time.perf_counter() - started) * 1000)
        return [result.outbound if result is not None else (self.engine.apology(event.key),)
                for event, result in zip(events, results, strict=True)]
