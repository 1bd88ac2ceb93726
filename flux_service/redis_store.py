"""The Redis image store: every worker and every instance finds every image."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from .errors import StoreUnavailableError
from .store import StoredImage, new_key

log = logging.getLogger(__name__)

REDIS_PREFIX = "flux:image:"
REDIS_TIMEOUT = 2.0  # seconds; a store that slow counts as down
STORE_RETRY_AFTER = 5


class RedisStore:
    """Images in Redis: `SET key value EX ttl`, so Redis does the forgetting.

    The value is the image's type, a newline, then its bytes. Any failure to reach Redis
    becomes StoreUnavailableError; redis-py reconnects by itself once Redis is back.
    """

    name = "redis"

    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self._ttl = ttl
        self._redis = client

    @classmethod
    def from_url(cls, url: str, ttl: int) -> RedisStore:
        """A store on the Redis at `url`, with timeouts short enough to report it down."""
        client = redis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
            health_check_interval=30,
        )
        return cls(client, ttl)

    def put(self, data: bytes, mime: str) -> str:
        key = new_key()
        with _reaching_redis():
            self._redis.set(REDIS_PREFIX + key, mime.encode() + b"\n" + data, ex=self._ttl)
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
        log.error("image store unreachable: %s", type(error).__name__)
        raise StoreUnavailableError(
            "The image store (Redis) cannot be reached right now; try again shortly.",
            retry_after=STORE_RETRY_AFTER,
        ) from None
