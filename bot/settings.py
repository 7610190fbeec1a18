"""Settings from the environment, read once by the composition root.

| variable | default |
|---|---|
| ``QINGXIN_DATA_DIR`` | ``$XDG_DATA_HOME/qingxin`` or ``~/.local/share/qingxin`` |
| ``QINGXIN_DATABASE_URL`` | ``sqlite:///<data dir>/qingxin.db`` (created on first run) |
| ``QINGXIN_SECRET`` | generated once and kept in ``<data dir>/secret.key`` (mode 0600) |
| ``QINGXIN_FLOWS_DIR`` | the ``flows/`` folder shipped with the package |
| ``QINGXIN_ENCRYPTION_KEY`` | a Fernet key for channel addresses; else ``<data dir>/address.key`` |
| ``QINGXIN_LEXICON_DIR`` | the ``knowledge/risk/`` folder shipped with the package |
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import flows
import knowledge
from bot.keyfile import read_or_create


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    data_dir: Path
    database_url: str
    secret: bytes
    flows_dir: Path
    lexicon_dir: Path
    encryption_key: bytes


def default_flows_dir() -> Path:
    return Path(flows.__file__).resolve().parent


def knowledge_dir() -> Path:
    return Path(knowledge.__file__).resolve().parent


def lexicon_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    default = Path(knowledge.__file__).resolve().parent / "risk"
    return Path(env.get("QINGXIN_LEXICON_DIR") or default)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    from bot.addresses import load_key  # cryptography: `qingxin screen` starts without it

    env = os.environ if env is None else env
    home = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    data_dir = Path(env.get("QINGXIN_DATA_DIR") or home / "qingxin").expanduser()
    database_url = env.get("QINGXIN_DATABASE_URL") or f"sqlite:///{data_dir / 'qingxin.db'}"
    secret = env.get("QINGXIN_SECRET")
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret=secret.encode() if secret else _local_secret(data_dir / "secret.key"),
        flows_dir=Path(env.get("QINGXIN_FLOWS_DIR") or default_flows_dir()),
        lexicon_dir=lexicon_dir(env),
        encryption_key=load_key(env.get("QINGXIN_ENCRYPTION_KEY"), data_dir),
    )


def _local_secret(path: Path) -> bytes:
    """The pseudonym key kept on this machine."""
    return read_or_create(path, lambda: secrets.token_hex(32).encode())
