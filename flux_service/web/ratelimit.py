"""Per-key rate limits, counted with `limits` in the Redis of IMAGE_STORE, or in that of
REDIS_URL (so instances that share an S3 bucket count together), or else in memory.

RATE_LIMIT (e.g. "20/minute", off when empty) counts the images each API key has drawn: a
request for four images takes four, before anything is drawn. Refused requests (a bad body,
a wrong key, an unknown route) count too, against a limit REFUSED_FACTOR times looser, so a
client that only sends garbage is slowed down as well. Clients without a valid key (none, or
a made-up one, new with every request) are counted by their address. Counters hold a digest
of the key, never the key. Every route that needs a key waits for the refusal limit.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter

from config import Settings

from .. import metrics
from ..errors import RateLimitError

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

REFUSED_FACTOR = 10
KEY_PREFIX = "flux:limit"


class RateLimits:
    """The two limits of RATE_LIMIT: on images drawn, and (looser) on refused requests."""

    def __init__(self, settings: Settings, shared: redis.Redis | None = None) -> None:
        # In the app's Redis, through its client's connections, or else in this process.
        storage: Storage = MemoryStorage()
        if shared is not None:
            storage = RedisStorage("redis://", connection_pool=shared.connection_pool)
        self._window = FixedWindowRateLimiter(storage)
        self._drawn = parse_many(settings.rate_limit)
        self._refused = [
            type(item)(item.amount * REFUSED_FACTOR, item.multiples) for item in self._drawn
        ]

    def take(self, who: str, images: int) -> None:
        """Count `images` drawn for `who`; RateLimitError, counting nothing, if they don't fit."""
        self._take(self._drawn, "drawn", who, images)

    def refuse_early(self, who: str) -> None:
        """RateLimitError if `who` was refused so often that it must wait first."""
        full = self._full(self._refused, "refused", who, 1)
        if full is not None:
            raise _error(self, full, "refused", who, "requests refused as bad")

    def count_refusal(self, who: str) -> None:
        """Count one refused request of `who`."""
        self._hit(self._refused, "refused", who, 1)

    def _take(self, items: list[RateLimitItem], kind: str, who: str, cost: int) -> None:
        full = self._full(items, kind, who, cost)
        if full is not None:
            raise _error(self, full, kind, who, "images drawn")
        self._hit(items, kind, who, cost)

    def _full(
        self, items: list[RateLimitItem], kind: str, who: str, cost: int
    ) -> RateLimitItem | None:
        try:
            return next(
                (i for i in items if not self._window.test(i, KEY_PREFIX, kind, who, cost=cost)),
                None,
            )
        except Exception as error:  # a store that is down must not refuse everyone
            log.warning("rate limits cannot be counted: %s", type(error).__name__)
            return None

    def _hit(self, items: list[RateLimitItem], kind: str, who: str, cost: int) -> None:
        try:
            for item in items:
                self._window.hit(item, KEY_PREFIX, kind, who, cost=cost)
        except Exception as error:  # as above
            log.warning("rate limits cannot be counted: %s", type(error).__name__)

    def seconds_left(self, item: RateLimitItem, kind: str, who: str) -> int:
        """Seconds until `item`'s window for `who` starts again."""
        reset = self._window.get_window_stats(item, KEY_PREFIX, kind, who).reset_time
        return max(1, math.ceil(reset - time.time()))


def _error(
    limits: RateLimits, item: RateLimitItem, kind: str, who: str, what: str
) -> RateLimitError:
    """The refusal of `who`, counted, for being over `item`."""
    metrics.refused("rate")
    retry_after = limits.seconds_left(item, kind, who)
    limit = str(item)
    if kind == "refused":
        limit = f"{limit}, {REFUSED_FACTOR} times RATE_LIMIT"
    return RateLimitError(
        f"This API key has more {what} than RATE_LIMIT allows ({limit}); "
        f"try again in {retry_after} s.",
        retry_after=retry_after,
    )
