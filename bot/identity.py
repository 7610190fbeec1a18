"""Turning a channel's user id into the only identity the rest of Qingxin sees."""

from __future__ import annotations

import hashlib
import hmac


class Pseudonymizer:
    """Keyed pseudonyms: HMAC-SHA256 of ``channel:user id``; without the secret they cannot be
    linked back to the user, and the same user always gets the same key."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the pseudonym secret must be at least 16 bytes")
        self._secret = secret

    def key(self, channel: str, user_id: str) -> str:
        message = f"{channel}:{user_id}".encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()
