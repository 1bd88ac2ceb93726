"""The one Redis client of an app: the store, the reuse index, the day's spending, the
accounts' rests and the rate limits all share its connection pool."""

from __future__ import annotations

import redis

# Seconds to connect and to wait for an answer: a Redis this slow counts as down, and each of
# its users says what that means for it (a 503, a reuse missed, a count kept here).
REDIS_TIMEOUT = 2.0
HEALTH_CHECK_SECONDS = 30  # a pooled connection idle this long is checked before it is used


def redis_client(url: str) -> redis.Redis:
    """A client of the Redis at `url`, with timeouts short enough to call it down."""
    return redis.Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        health_check_interval=HEALTH_CHECK_SECONDS,
    )
