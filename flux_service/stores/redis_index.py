"""The reuse index in Redis, shared by every worker and instance (see reuse.py)."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager

import redis

from .reuse_index import entry_seconds

log = logging.getLogger(__name__)

ENTRY_PREFIX = "flux:reuse:"
CLAIM_PREFIX = "flux:reuse-claim:"

# Release a claim only if it is still ours: one that outlived its time may be another's now.
_RELEASE = """
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0
"""


class RedisIndex:
    """Entries as Redis keys that expire with their images; a claim is `SET NX PX`, so a
    process that dies while drawing holds it no longer than `hold` seconds.

    Redis out of reach costs only the reuse: nothing is found, every claim is granted.
    """

    name = "redis"

    def __init__(self, client: redis.Redis, ttl: int, hold: float) -> None:
        self._redis = client
        self._entry_ms = entry_seconds(ttl) * 1000
        self._hold_ms = max(1, round(hold * 1000))
        self._release = client.register_script(_RELEASE)

    def find(self, digest: str) -> str | None:
        try:
            key = self._redis.get(ENTRY_PREFIX + digest)
        except redis.RedisError as error:
            _unreachable(error)
            return None
        return key.decode() if isinstance(key, bytes) else None

    def remember(self, digest: str, key: str) -> None:
        try:
            self._redis.set(ENTRY_PREFIX + digest, key, px=self._entry_ms)
        except redis.RedisError as error:
            _unreachable(error)

    def claim(self, digest: str) -> AbstractContextManager[object] | None:
        token = secrets.token_hex(16)
        name = CLAIM_PREFIX + digest
        try:
            taken = self._redis.set(name, token, nx=True, px=self._hold_ms)
        except redis.RedisError as error:
            _unreachable(error)
            return contextlib.nullcontext()
        return self._held(name, token) if taken else None

    @contextlib.contextmanager
    def _held(self, name: str, token: str) -> Iterator[None]:
        try:
            yield
        finally:
            try:
                self._release(keys=[name], args=[token])
            except redis.RedisError as error:
                _unreachable(error)  # it expires by itself


def _unreachable(error: redis.RedisError) -> None:
    log.warning("the reuse index (Redis) cannot be reached: %s", type(error).__name__)
