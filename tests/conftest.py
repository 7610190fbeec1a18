"""Shared fixtures: the shipped flows, a pinned clock, and databases (SQLite always, PostgreSQL
when the server in QINGXIN_TEST_POSTGRES_URL answers)."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.app import build_knowledge_base, build_smalltalk
from bot.core.cases.model import DeskView
from bot.core.engine import REQUIREMENTS, Engine
from bot.core.events import Conversation, Inbound, Outbound, StepResult
from bot.core.flow_loader import load_flows
from bot.core.flow_machine import FlowSet
from bot.core.registry import default_registry
from bot.core.risk.screener import Screener, load_screener
from bot.settings import default_flows_dir, lexicon_dir

FLOWS_DIR = Path(os.environ.get("QINGXIN_TEST_FLOWS_DIR") or default_flows_dir())
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
POSTGRES_URL = os.environ.get("QINGXIN_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session", autouse=True)
def _screener_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`qingxin` subprocesses share one compiled screener in this test session's own folder."""
    os.environ["QINGXIN_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def flow_set() -> FlowSet:
    return load_flows(FLOWS_DIR, default_registry(), REQUIREMENTS)


@pytest.fixture(scope="session")
def screener() -> Screener:
    return load_screener(lexicon_dir())


@pytest.fixture(scope="session")
def engine(flow_set: FlowSet, screener: Screener) -> Engine:
    return Engine(flow_set, screener, kb=build_knowledge_base(),
                  smalltalk=build_smalltalk())


@dataclass
class Chat:
    """One user talking to the engine in-process; the conversation is kept as storage would."""

    engine: Engine
    key: str = "user-1"
    hint: str | None = None
    conversation: Conversation | None = None
    now: datetime = T0
    last: StepResult | None = None
    history: list[Outbound] = field(default_factory=list)
    case_ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def send(self, text: str | None = None, *, button: str | None = None) -> tuple[Outbound, ...]:
        self.now += timedelta(seconds=5)
        inbound = Inbound(channel="test", key=self.key, at=self.now, text=text, button=button,
                          language_hint=self.hint)
        desk = DeskView(complete=True, new_case_id=lambda: next(self.case_ids))
        self.last = self.engine.step(self.conversation, inbound, desk)
        self.conversation = self.last.conversation
        self.history.extend(self.last.outbound)
        return self.last.outbound

    def press(self, button_id: str) -> tuple[Outbound, ...]:
        """Press the button with this id on the last message that had buttons."""
        for message in reversed(self.history):
            for button in message.buttons:
                if button.payload.rsplit(":", 1)[1] == button_id:
                    return self.send(button=button.payload)
        raise AssertionError(f"no button {button_id!r} on screen")

    @property
    def where(self) -> str:
        assert self.last is not None
        return self.last.outbound[-1].state


@pytest.fixture
def chat(engine: Engine) -> Chat:
    return Chat(engine)


def _postgres_available() -> str | None:
    try:
        probe = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
        with probe.connect():
            pass
        probe.dispose()
    except Exception as exc:  # any failure means: skip, and say why
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {str(exc).splitlines()[0]}"
    return None


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'qingxin.db'}"
        return
    reason = _postgres_available()
    if reason:
        pytest.skip(reason)
    schema = f"qx_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of a `qingxin` subprocess with its own fresh data folder."""
    return {**os.environ, "QINGXIN_DATA_DIR": str(tmp_path / "data"),
            "QINGXIN_FLOWS_DIR": str(FLOWS_DIR), "QINGXIN_DATABASE_URL": "",
            "QINGXIN_SECRET": "", "QINGXIN_ENCRYPTION_KEY": ""}
