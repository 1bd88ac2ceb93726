"""Where images wait to be fetched: keyed by an unguessable id, gone after their TTL.

`ImageStore` is what every store offers. `MemoryStore` keeps images in this process,
bounded in bytes; `RedisStore` (in `redis_store.py`) keeps them in Redis, where every
worker and every instance finds them. The factory opens the one IMAGE_STORE names.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from cachetools import TTLCache

from .. import metrics

log = logging.getLogger(__name__)

KEY_BYTES = 24  # 192 random bits: `/image/<key>` is public, so the key is the secret
# What a key may look like in a link: what `new_key` makes (32 characters), and room for
# keys of other lengths a store may hold.
IMAGE_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
# Where this service serves a stored image: this path and its key.
IMAGE_PATH = "/image/"
# The image types stores keep, and the extension each is saved under.
EXTENSIONS = {"image/jpeg": "jpeg", "image/png": "png", "image/webp": "webp"}


def image_url(base_url: str, key: str) -> str:
    """Where the image under `key` is fetched, below `base_url` (this service's origin)."""
    return f"{base_url}{IMAGE_PATH}{key}"


@dataclass(frozen=True)
class StoredImage:
    """A stored image and how long it has left: its bytes, or (from the disk store) its
    file, open at the image's first byte, for the server to send and close."""

    data: bytes
    mime: str
    seconds_left: float | None  # None: kept for good (IMAGE_EXPIRATION=0)
    etag: str | None = None  # the store's own strong validator, quoted; None: the key is one
    file: BinaryIO | None = None
    size: int = 0  # with `file`: the image's length

    @property
    def length(self) -> int:
        return self.size if self.file is not None else len(self.data)

    def read(self) -> bytes:
        """The image's bytes, from wherever they are (closing the file)."""
        if self.file is None:
            return self.data
        with self.file:
            return self.file.read(self.size)


class ImageStore(Protocol):
    """What the pipeline and the routes need from a store."""

    name: str  # the store's kind, as /healthz reports it: memory, redis, file or s3

    def put(self, data: bytes, mime: str, owner: str) -> str:
        """Keep `data` for IMAGE_EXPIRATION seconds for `owner` (a digest of an API key);
        return its new key. Past the owner's share, its own oldest image goes first."""
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
    TTLCache iterating in order of expiry, which `tests/unit/test_memory_store.py` pins down.

    Every image that leaves it is counted, by why: expired, or dropped when full.
    """

    def expire(self, time: float | None = None) -> list[tuple[str, _Entry]]:
        expired = super().expire(time)
        _count_gone("expired", [entry for _, entry in expired])
        return expired

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
        _count_gone("full", [entry])
        return key, entry


@dataclass
class _Owned:
    """One owner's images, oldest first, and their bytes.

    Images leave the cache oldest first (expiry and eviction alike), so those that have left
    are always at the front.
    """

    images: deque[tuple[str, int]] = field(default_factory=deque)
    bytes: int = 0

    def add(self, key: str, size: int) -> None:
        self.images.append((key, size))
        self.bytes += size

    def pop_oldest(self) -> str:
        key, size = self.images.popleft()
        self.bytes -= size
        return key

    def forget_gone(self, cache: TTLCache) -> None:
        while self.images and self.images[0][0] not in cache:
            self.pop_oldest()


class MemoryStore:
    """Images in this process: a TTLCache behind a lock, bounded by bytes of image data, and
    each owner by `share` bytes of it."""

    name = "memory"

    def __init__(
        self,
        ttl: int,
        max_bytes: int,
        share: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._clock = clock
        self._share = share or max_bytes
        self._cache = _OldestFirst(maxsize=max_bytes, ttl=ttl, timer=clock, getsizeof=_size)
        self._owned: dict[str, _Owned] = {}
        self._lock = threading.Lock()

    def put(self, data: bytes, mime: str, owner: str) -> str:
        key = new_key()
        with self._lock:
            owned = self._owned.setdefault(owner, _Owned())
            owned.forget_gone(self._cache)
            # A share as large as the store is no share: the store's own bound decides.
            shared = self._share < self._cache.maxsize
            while shared and owned.images and owned.bytes + len(data) > self._share:
                dropped = self._cache.pop(owned.pop_oldest(), None)
                _count_gone("share", [dropped] if dropped else [])
                log.warning(
                    "an API key holds its share of the image store (%d bytes): dropped its "
                    "oldest image",
                    self._share,
                )
            self._cache[key] = _Entry(data, mime, self._clock() + self._ttl)
            owned.add(key, len(data))
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


def _count_gone(reason: str, entries: list[_Entry]) -> None:
    metrics.images_evicted(MemoryStore.name, reason, sum(map(_size, entries)), len(entries))
