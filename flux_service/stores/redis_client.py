"""The one Redis client of an app: the store, the reuse index, the day's spending, the
accounts' rests and the rate limits all share its connection pool."""

from __future__ import annotations

import time
from typing import Any

import redis

# Seconds to connect and to wait for an answer: a Redis this slow counts as down, and each of
# its users says what that means for it (a 503, a reuse missed, a count kept here).
REDIS_TIMEOUT = 2.0
HEALTH_CHECK_SECONDS = 30  # a pooled connection idle this long is checked before it is used
# Seconds a Redis that timed out is left alone: calls fail at once meanwhile, then one call
# tries it again. A hung Redis, or one behind a firewall that drops, once cost every call its
# REDIS_TIMEOUT: a generation asks Redis six things, so each took 12 s.
QUIET_SECONDS = 5.0


def redis_client(url: str) -> redis.Redis:
    """A client of the Redis at `url`, with timeouts short enough to call it down."""
    pool = _Pool.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        health_check_interval=HEALTH_CHECK_SECONDS,
    )
    return redis.Redis(connection_pool=pool)


class _Pool(redis.ConnectionPool):
    """redis-py's pool, which remembers for QUIET_SECONDS that Redis did not answer in time.

    Only a timeout in making a connection is remembered: a refused connection fails at once
    anyway, and a Redis that is back is then seen at the next call. A call on a connection
    made before Redis hung still waits out its own timeout; that connection is then made
    again, here. Every call takes its connection here, the rate limits' too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._quiet_until = 0.0  # before this, Redis is not asked: it timed out

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        if now < self._quiet_until:
            raise redis.TimeoutError("Redis did not answer in time moments ago")
        if self._quiet_until:
            # The first call after the pause tries alone (connecting, then Redis's first
            # answer: a timeout each at most); the others fail at once meanwhile.
            self._quiet_until = now + 2 * REDIS_TIMEOUT
        quiet_until = 0.0  # anything but a timeout: Redis answered, or refused at once
        try:
            return super().get_connection(*args, **kwargs)
        except redis.TimeoutError:
            quiet_until = time.monotonic() + QUIET_SECONDS
            # Connections made before would each wait out a timeout of their own when used.
            self.disconnect(inuse_connections=False)
            raise
        finally:
            self._quiet_until = quiet_until
