"""Opening the database: URL checks, SQLite settings, schema creation.

Exceptions:
    StorageUnavailable -- the URL is malformed, its driver is missing or the server cannot be
                          reached; the message is one line that names ``QINGXIN_DATABASE_URL``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from storage.models import Base

URL_SETTING = "QINGXIN_DATABASE_URL"


class StorageUnavailable(Exception):
    """The database named by the settings cannot be used."""


def open_database(url: str) -> Engine:
    """A synchronous SQLAlchemy engine with the schema in place; raises ``StorageUnavailable``."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageUnavailable(f"{URL_SETTING} is not a database URL: {url!r}") from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = _create(url, parsed.get_backend_name())
        with engine.begin() as connection:
            Base.metadata.create_all(connection)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StorageUnavailable(f"{URL_SETTING}={_safe(url)}: no driver installed for it "
                                 f"({exc})") from exc
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise StorageUnavailable(f"cannot open the database in {URL_SETTING}={_safe(url)}: "
                                 f"{reason}") from exc
    return engine


def _safe(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "?"


def _create(url: str, backend: str) -> Engine:
    if backend != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, open transactions, so SAVEPOINT works (SQLAlchemy docs,
        # "Serializable isolation / Savepoints / Transactional DDL").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives the process being killed; only a power cut can take
        # the last commits back. Measured and reported in benchmarks/chat_throughput.py.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Take the write lock at once: two processes never deadlock upgrading a read lock.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
