"""The reuse index: where the digest of a repeatable draw points to the key of the image it
stored, and who is drawing one right now (see reuse.py). `Index` is what every index
offers; `MemoryIndex` keeps it in this process, `RedisIndex` and `FileIndex` (in their own
modules) share it between processes."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

from cachetools import TTLCache

# The longest an index entry lives: images kept for good are found for this long.
LONGEST_ENTRY = 7 * 86400
MEMORY_ENTRIES = 100_000


class Index(Protocol):
    """Where digests point to images, and who is drawing one right now."""

    name: str  # for the log: memory, redis or file

    def find(self, digest: str) -> str | None:
        """The key of the image stored for `digest`, if one was."""
        ...

    def remember(self, digest: str, key: str) -> None:
        """Point `digest` at `key`, for as long as the image is kept."""
        ...

    def claim(self, digest: str) -> AbstractContextManager[object] | None:
        """The right to draw `digest`, held until the context ends; None while another
        process holds it."""
        ...


class MemoryIndex:
    """The index in this process: for the memory store, or a bucket without Redis, where
    each worker finds the images it drew."""

    name = "memory"

    def __init__(self, ttl: int) -> None:
        self._entries: TTLCache[str, str] = TTLCache(MEMORY_ENTRIES, entry_seconds(ttl))
        self._lock = threading.Lock()

    def find(self, digest: str) -> str | None:
        with self._lock:
            return self._entries.get(digest)

    def remember(self, digest: str, key: str) -> None:
        with self._lock:
            self._entries[digest] = key

    def claim(self, digest: str) -> AbstractContextManager[object]:  # noqa: ARG002
        return nullcontext()  # no other process shares this index: flights suffice


def entry_seconds(ttl: int) -> int:
    """How long an index entry lives for images kept `ttl` seconds (0: for good)."""
    return min(ttl, LONGEST_ENTRY) if ttl else LONGEST_ENTRY
