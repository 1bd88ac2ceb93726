"""Where pictures wait to be fetched: keyed by an unguessable id, gone after their TTL.

`MemoryStore` keeps them in this process, bounded in bytes; `RedisStore` keeps them in
Redis, where every worker and every instance finds them. `open_store` picks one from
IMAGE_STORE.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import redis
from cachetools import TTLCache

from config import Settings

from .errors import StoreUnavailableError

log = logging.getLogger(__name__)

KEY_BYTES = 24  # 192 random bits: `/image/<key>` is public, so the key is the secret
REDIS_PREFIX = "flux:image:"
REDIS_TIMEOUT = 2.0  # seconds; a store that slow counts as down
STORE_RETRY_AFTER = 5


@dataclass(frozen=True)
class StoredImage:
    """A stored picture and how long it has left."""

    data: bytes
    mime: str
    seconds_left: float


class ImageStore(Protocol):
    """What the pipeline and the routes need from a store."""

    name: str
    ttl: int

    def put(self, data: bytes, mime: str) -> str:
        """Keep `data` for `ttl` seconds; return its new key."""
        ...

    def get(self, key: str) -> StoredImage | None:
        """The picture under `key`, or None if it is unknown or expired."""
        ...

    def check(self) -> None:
        """Raise StoreUnavailableError unless the store can take pictures now."""
        ...


def new_key() -> str:
    """A fresh URL-safe key with KEY_BYTES of randomness."""
    return secrets.token_urlsafe(KEY_BYTES)


def open_store(settings: Settings) -> ImageStore:
    """The store IMAGE_STORE names."""
    if settings.image_store == "memory":
        return MemoryStore(settings.image_expiration, settings.image_store_max_bytes)
    client = redis.Redis.from_url(settings.image_store, **_REDIS_OPTIONS)
    return RedisStore(client, settings.image_expiration)


_REDIS_OPTIONS = {
    "socket_timeout": REDIS_TIMEOUT,
    "socket_connect_timeout": REDIS_TIMEOUT,
    "health_check_interval": 30,
}


@dataclass(frozen=True)
class _Entry:
    data: bytes
    mime: str
    expires: float  # on the cache's clock


class _OldestFirst(TTLCache):
    """A TTLCache that, when full, drops the picture stored first, and says so.

    TTLCache would drop the least recently *read* one; every picture has the same TTL, so the
    first to expire is the oldest, and reading it does not make it younger.
    """

    def popitem(self) -> tuple[str, _Entry]:
        self.expire()
        key = next(iter(self), None)  # iteration runs in order of expiry
        if key is None:
            raise KeyError("the picture store is empty")
        entry = self.pop(key)
        log.warning(
            "picture store full (IMAGE_STORE_MAX_BYTES=%d): dropped a picture %.0f s before "
            "its expiry",
            self.maxsize,
            entry.expires - self.timer(),
        )
        return key, entry


class MemoryStore:
    """Pictures in this process: a TTLCache behind a lock, bounded by bytes of picture data."""

    name = "memory"

    def __init__(
        self, ttl: int, max_bytes: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._cache = _OldestFirst(maxsize=max_bytes, ttl=ttl, timer=clock, getsizeof=_size)
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

    def check(self) -> None:
        """Memory is always there."""


def _size(entry: _Entry) -> int:
    return len(entry.data)


class RedisStore:
    """Pictures in Redis: `SET key value EX ttl`, so Redis does the forgetting.

    The value is the picture's type, a newline, then its bytes. Any failure to reach Redis
    becomes StoreUnavailableError; redis-py reconnects by itself once Redis is back.
    """

    name = "redis"

    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self.ttl = ttl
        self._redis = client

    def put(self, data: bytes, mime: str) -> str:
        key = new_key()
        with _reaching_redis():
            self._redis.set(REDIS_PREFIX + key, mime.encode() + b"\n" + data, ex=self.ttl)
        return key

    def get(self, key: str) -> StoredImage | None:
        with _reaching_redis():
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(REDIS_PREFIX + key)
            pipe.pttl(REDIS_PREFIX + key)
            value, left_ms = pipe.execute()
        if value is None:
            return None
        mime, _, data = value.partition(b"\n")
        return StoredImage(data, mime.decode(), max(0.0, left_ms / 1000))

    def check(self) -> None:
        with _reaching_redis():
            self._redis.ping()


@contextmanager
def _reaching_redis() -> Iterator[None]:
    """Turn every way of not reaching Redis into StoreUnavailableError."""
    try:
        yield
    except redis.RedisError as error:
        log.error("picture store unreachable: %s", type(error).__name__)
        raise StoreUnavailableError(
            "The picture store (Redis) cannot be reached right now; try again shortly.",
            retry_after=STORE_RETRY_AFTER,
        ) from None
