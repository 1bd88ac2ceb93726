"""Where pictures wait to be fetched: keyed by an unguessable id, gone after their TTL."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cachetools import TTLCache

KEY_BYTES = 24  # 192 random bits: `/image/<key>` is public, so the key is the secret


@dataclass(frozen=True)
class StoredImage:
    """A stored picture and how long it has left."""

    data: bytes
    mime: str
    seconds_left: float


class ImageStore(Protocol):
    """What the pipeline and the image route need from a store."""

    ttl: int

    def put(self, data: bytes, mime: str) -> str:
        """Keep `data` for `ttl` seconds; return its new key."""
        ...

    def get(self, key: str) -> StoredImage | None:
        """The picture under `key`, or None if it is unknown or expired."""
        ...


def new_key() -> str:
    """A fresh URL-safe key with KEY_BYTES of randomness."""
    return secrets.token_urlsafe(KEY_BYTES)


@dataclass(frozen=True)
class _Entry:
    data: bytes
    mime: str
    expires: float  # on the cache's monotonic clock


class MemoryStore:
    """An in-process store: a `TTLCache` behind a lock, bounded by bytes of picture data."""

    def __init__(
        self, ttl: int, max_bytes: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._cache: TTLCache[str, _Entry] = TTLCache(
            maxsize=max_bytes, ttl=ttl, timer=clock, getsizeof=_entry_size
        )
        self._lock = threading.Lock()

    def put(self, data: bytes, mime: str) -> str:
        key = new_key()
        with self._lock:
            self._cache[key] = _Entry(data, mime, self._clock() + self.ttl)
        return key

    def get(self, key: str) -> StoredImage | None:
        with self._lock:
            entry = self._cache.get(key)
        if entry is None:
            return None
        return StoredImage(entry.data, entry.mime, max(0.0, entry.expires - self._clock()))


def _entry_size(entry: _Entry) -> int:
    return len(entry.data)
