"""How many images this worker draws at once: its share of MAX_CONCURRENT_GENERATIONS, and
of that each API key's share (MAX_GENERATIONS_PER_KEY)."""

from __future__ import annotations

import contextlib
import math
import threading
from collections import Counter
from collections.abc import Iterator

from config import Settings

from .. import metrics
from ..errors import CapacityError

CAPACITY_RETRY_AFTER = 5  # seconds; about the time an image takes


class Slots:
    """The slots of this worker: `total` images drawn at once, at most `per_key` of them for
    one key (None: no share of its own), each waited for at most `wait` seconds."""

    def __init__(self, total: int, per_key: int | None, wait: float, per_key_setting: int) -> None:
        self._free = threading.BoundedSemaphore(total)
        self._per_key = per_key
        self._wait = wait
        self._per_key_setting = per_key_setting  # as the refusal names it
        self._running: Counter[str] = Counter()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Slots:
        """Each worker takes its share of the instance's slots, and so of each key's."""
        workers = settings.web_concurrency
        total = math.ceil(settings.max_concurrent_generations / workers)
        per_key = math.ceil(settings.max_generations_per_key / workers)
        # A key's share as large as the instance's is no share: the slots alone decide.
        return cls(
            total,
            per_key if per_key < total else None,
            settings.generation_wait,
            settings.max_generations_per_key,
        )

    @contextlib.contextmanager
    def hold(self, owner: str) -> Iterator[None]:
        """A slot for one image of `owner` while the block runs; CapacityError (counted) when
        the key has all of its share, or no slot frees within the wait."""
        with self._key_share(owner):
            if not self._free.acquire(timeout=self._wait):
                raise _no_capacity(
                    "This server is drawing as many images at once as it allows; "
                    "try again in a few seconds."
                )
            try:
                yield
            finally:
                self._free.release()

    @contextlib.contextmanager
    def _key_share(self, owner: str) -> Iterator[None]:
        if self._per_key is None:
            yield
            return
        with self._lock:
            if self._running[owner] >= self._per_key:
                raise _no_capacity(
                    "This API key has as many images being drawn at once as it may "
                    f"(MAX_GENERATIONS_PER_KEY={self._per_key_setting}); "
                    "try again when one is done."
                )
            self._running[owner] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running[owner] -= 1
                if not self._running[owner]:
                    del self._running[owner]


def _no_capacity(message: str) -> CapacityError:
    """The refusal of an image for want of a slot, counted."""
    metrics.refused("capacity")
    return CapacityError(message, retry_after=CAPACITY_RETRY_AFTER)
