"""The composition root: the one place where settings become a running Qingxin."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.addresses import AddressBox
from bot.core.engine import REQUIREMENTS, Engine
from bot.core.flow_loader import load_flows
from bot.core.kb.answer import KnowledgeBase
from bot.core.kb.model import load_knowledge
from bot.core.kb.search import Index, load_synonyms
from bot.core.registry import default_registry
from bot.core.smalltalk import SmallTalk, load_smalltalk
from bot.identity import Pseudonymizer
from bot.runtime.dispatcher import Dispatcher
from bot.screener_cache import load_cached_screener
from bot.settings import Settings, knowledge_dir
from storage.database import open_database
from storage.repository import Repository

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class App:
    engine: Engine
    repository: Repository
    dispatcher: Dispatcher
    pseudonyms: Pseudonymizer
    addresses: AddressBox
    clock: Clock

    async def close(self) -> None:
        await self.repository.close()


def build_knowledge_base(directory: Path | None = None) -> KnowledgeBase | None:
    """The knowledge base in ``knowledge/`` (None while it has no entries); raises
    ``DataError`` listing every problem."""
    root = directory or knowledge_dir()
    if not any((root / "kb").glob("*.yaml")):
        return None
    knowledge = load_knowledge(root / "kb", root / "laws.yaml")
    return KnowledgeBase(knowledge, Index(knowledge.entries, load_synonyms(root / "synonyms.yaml")))


def build_smalltalk(directory: Path | None = None) -> SmallTalk:
    """Greetings, thanks and goodbyes of ``knowledge/smalltalk.yaml``; raises ``DataError``."""
    return load_smalltalk((directory or knowledge_dir()) / "smalltalk.yaml")


def build_engine(settings: Settings) -> Engine:
    """Load and check the flows, the risk lexicon and the knowledge base; raises ``DataError``
    listing every problem."""
    flows = load_flows(settings.flows_dir, default_registry(), REQUIREMENTS)
    return Engine(flows, load_cached_screener(settings.lexicon_dir),
                  kb=build_knowledge_base(), smalltalk=build_smalltalk())


def build_app(settings: Settings, clock: Clock = utc_now) -> App:
    """Raises ``DataError`` for bad flows and ``StorageUnavailable`` for a bad database URL."""
    engine = build_engine(settings)
    repository = Repository(open_database(settings.database_url))
    return App(engine=engine, repository=repository,
               dispatcher=Dispatcher(engine, repository),
               pseudonyms=Pseudonymizer(settings.secret),
               addresses=AddressBox(settings.encryption_key), clock=clock)
