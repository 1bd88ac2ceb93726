"""Where images wait to be fetched: keyed by an unguessable id, gone after their TTL.

`ImageStore` is what every store offers. `MemoryStore` keeps images in this process,
bounded in bytes; `RedisStore` (in `redis_store.py`) keeps them in Redis, where every
worker and every instance finds them. The factory opens the one IMAGE_STORE names.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cachetools import TTLCache

log = logging.getLogger(__name__)

KEY_BYTES = 24  # 192 random bits: `/image/<key>` is public, so the key is the secret


@dataclass(frozen=True)
class StoredImage:
    """A stored image and how long it has left."""

    data: bytes
    mime: str
    seconds_left: float


class ImageStore(Protocol):
    """What the pipeline and the routes need from a store."""

    name: str

    def put(self, data: bytes, mime: str) -> str:
        """Keep `data` for IMAGE_EXPIRATION seconds; return its new key."""
        ...

    def get(self, key: str) -> StoredImage | None:
        """The image under `key`, or None if it is unknown or expired."""
        ...

    def check(self) -> None:
        """Raise StoreUnavailableError unless the store can take images now."""
        ...


def new_key() -> str:
    """A fresh URL-safe key with KEY_BYTES of randomness."""
    return secrets.token_urlsafe(KEY_BYTES)


@dataclass(frozen=True)
class _Entry:
    data: bytes
    mime: str
    expires: float  # on the cache's clock


class _OldestFirst(TTLCache):
    """A TTLCache that, when full, drops the image stored first, and says so.

    TTLCache would drop the least recently *read* one; every image has the same TTL, so the
    first to expire is the oldest, and reading it does not make it younger. That relies on
    TTLCache iterating in order of expiry, which `test_store.py` pins down.
    """

    def popitem(self) -> tuple[str, _Entry]:
        self.expire()
        key = next(iter(self), None)
        if key is None:
            raise KeyError("the image store is empty")
        entry = self.pop(key)
        log.warning(
            "image store full (IMAGE_STORE_MAX_BYTES=%d): dropped an image %.0f s before "
            "its expiry",
            self.maxsize,
            entry.expires - self.timer(),
        )
        return key, entry


class MemoryStore:
    """Images in this process: a TTLCache behind a lock, bounded by bytes of image data."""

    name = "memory"

    def __init__(
        self, ttl: int, max_bytes: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._clock = clock
        self._cache = _OldestFirst(maxsize=max_bytes, ttl=ttl, timer=clock, getsizeof=_size)
        self._lock = threading.Lock()

    def put(self, data: bytes, mime: str) -> str:
        key = new_key()
        with self._lock:
            self._cache[key] = _Entry(data, mime, self._clock() + self._ttl)
        return key

    def get(self, key: str) -> StoredImage | None:
        with self._lock:
            entry = self._cache.get(key)
        if entry is None:
            return None
        return StoredImage(entry.data, entry.mime, max(0.0, entry.expires - self._clock()))

    def check(self) -> None:
        """Memory is always there."""


def _size(entry: _Entry) -> int:
    return len(entry.data)
