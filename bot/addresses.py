"""Channel addresses (where to send a reply, e.g. a chat id), encrypted at rest.

Only channels and the worker that delivers messages decrypt them; the core, the logs and the
counselors never see them. Key: ``QINGXIN_ENCRYPTION_KEY`` (a Fernet key), or one generated once
into ``<data dir>/address.key`` (mode 0600).
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from bot.keyfile import read_or_create


class AddressBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, address: object) -> bytes:
        return self._fernet.encrypt(json.dumps(address).encode())

    def open(self, sealed: bytes) -> object | None:
        """The address, or None when it was sealed with another key."""
        try:
            return json.loads(self._fernet.decrypt(sealed))
        except (InvalidToken, ValueError):
            return None


def load_key(env_value: str | None, data_dir: Path) -> bytes:
    if env_value:
        return env_value.encode()
    return read_or_create(data_dir / "address.key", Fernet.generate_key)
