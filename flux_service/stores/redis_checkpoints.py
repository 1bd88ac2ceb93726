"""The model each key chose through AUTOMATIC1111's options, kept in Redis, so every worker
and every instance draws with the same one (see checkpoints.py)."""

from __future__ import annotations

import logging

import redis

from ..errors import StoreUnavailableError

log = logging.getLogger(__name__)

PREFIX = "flux:checkpoint:"
RETRY_AFTER = 5


class RedisCheckpoints:
    """Each choice under `flux:checkpoint:<who>`, kept until the key chooses again."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def chosen(self, who: str) -> str | None:
        try:
            value = self._redis.get(PREFIX + who)
        except redis.RedisError as error:
            # The picture is drawn all the same, with the default model, and the log says so.
            log.warning("the chosen checkpoint cannot be read from Redis: %s", type(error).__name__)
            return None
        return value.decode() if isinstance(value, bytes) else None

    def choose(self, who: str, model_id: str) -> None:
        try:
            self._redis.set(PREFIX + who, model_id)
        except redis.RedisError as error:
            raise StoreUnavailableError(
                f"The checkpoint could not be chosen: Redis cannot be reached "
                f"({type(error).__name__}).",
                retry_after=RETRY_AFTER,
            ) from None
