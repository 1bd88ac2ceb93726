"""Which model each API key chose as its checkpoint through AUTOMATIC1111's
`POST /sdapi/v1/options`: a model id by who asked (a digest of the key, never the key).

`Checkpoints` is what every such record offers; `MemoryCheckpoints` keeps it in this process,
`RedisCheckpoints` (its own module) in the Redis every worker and instance shares.
"""

from __future__ import annotations

import threading
from typing import Protocol


class Checkpoints(Protocol):
    """The model each key chose."""

    def chosen(self, who: str) -> str | None:
        """The model id `who` chose, if it chose one (and it can be read)."""
        ...

    def choose(self, who: str, model_id: str) -> None:
        """Record that `who` draws with `model_id` from now on; StoreUnavailableError when
        that cannot be recorded."""
        ...


class MemoryCheckpoints:
    """The choices in this process: every worker of an instance keeps its own."""

    def __init__(self) -> None:
        # One entry per API key that chose, and only keys of API_KEY reach it: a few.
        self._chosen: dict[str, str] = {}
        self._lock = threading.Lock()

    def chosen(self, who: str) -> str | None:
        with self._lock:
            return self._chosen.get(who)

    def choose(self, who: str, model_id: str) -> None:
        with self._lock:
            self._chosen[who] = model_id
