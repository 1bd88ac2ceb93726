"""The day's spending counted in Redis, so every worker and every instance adds to the same."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import redis

log = logging.getLogger(__name__)

PREFIX = "flux:spend:"
KEPT_SECONDS = 2 * 86400  # a day's counts outlive it a little, then Redis forgets them


class RedisCounts:
    """Counts under `flux:spend:<day>:<name>`, added with INCRBY in one transaction."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def read(self, day: str, names: Sequence[str]) -> list[int] | None:
        try:
            values = self._redis.mget([_name(day, name) for name in names])
        except redis.RedisError as error:
            log.warning("spending cannot be read from Redis: %s", type(error).__name__)
            return None
        return [int(value or 0) for value in values]

    def add(self, day: str, amounts: Mapping[str, int]) -> list[int] | None:
        pipe = self._redis.pipeline(transaction=True)
        for name, amount in amounts.items():
            pipe.incrby(_name(day, name), amount)
            pipe.expire(_name(day, name), KEPT_SECONDS)
        try:
            results = pipe.execute()
        except redis.RedisError as error:
            log.warning("spending cannot be counted in Redis: %s", type(error).__name__)
            return None
        return [int(value) for value in results[::2]]


def _name(day: str, name: str) -> str:
    return f"{PREFIX}{day}:{name}"
