"""The Redis image store: every worker and every instance finds every image."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from .. import metrics
from ..errors import StoreUnavailableError
from .base import StoredImage, new_key

log = logging.getLogger(__name__)

REDIS_PREFIX = "flux:image:"
INDEX_PREFIX = "flux:store:"
STORE_RETRY_AFTER = 5

# One atomic step for every worker and instance: forget the index entries of images Redis
# has expired, make room (the owner's oldest first, past its share; then anyone's oldest),
# and store the image. The index: a sorted set of every image in the order it was stored,
# one per owner, their sizes and owners, and the bytes held in all and per owner. It returns
# how many images went, and their bytes, for each of GONE_REASONS in turn.
_PUT = """
local image, member, owner = KEYS[1], ARGV[1], ARGV[2]
local value, ttl_ms = ARGV[3], tonumber(ARGV[4])
local max_bytes, share = tonumber(ARGV[5]), tonumber(ARGV[6])
local p = ARGV[7]
local images = ARGV[8]
local size = string.len(value)
local all, sizes, owners, total = p .. "all", p .. "sizes", p .. "owners", p .. "bytes"
local function owned(who) return p .. "owner:" .. who end
local function held(who) return p .. "owner-bytes:" .. who end
local gone = {0, 0, 0, 0, 0, 0}
local function drop(m, reason)
  local s = tonumber(redis.call("HGET", sizes, m) or "0")
  gone[reason * 2 - 1] = gone[reason * 2 - 1] + 1
  gone[reason * 2] = gone[reason * 2] + s
  local who = redis.call("HGET", owners, m)
  redis.call("HDEL", sizes, m)
  redis.call("HDEL", owners, m)
  redis.call("ZREM", all, m)
  redis.call("DECRBY", total, s)
  if who then
    redis.call("ZREM", owned(who), m)
    redis.call("DECRBY", held(who), s)
  end
  if reason ~= 1 then redis.call("DEL", images .. m) end
end
-- Every image has the same TTL, so those Redis has expired are the oldest.
while true do
  local oldest = redis.call("ZRANGE", all, 0, 0)[1]
  if not oldest or redis.call("EXISTS", images .. oldest) == 1 then break end
  drop(oldest, 1)
end
while tonumber(redis.call("GET", held(owner)) or "0") + size > share do
  local oldest = redis.call("ZRANGE", owned(owner), 0, 0)[1]
  if not oldest then break end
  drop(oldest, 2)
end
while tonumber(redis.call("GET", total) or "0") + size > max_bytes do
  local oldest = redis.call("ZRANGE", all, 0, 0)[1]
  if not oldest then break end
  drop(oldest, 3)
end
local order = redis.call("INCR", p .. "order")
redis.call("SET", image, value, "PX", ttl_ms)
redis.call("ZADD", all, order, member)
redis.call("ZADD", owned(owner), order, member)
redis.call("HSET", sizes, member, size)
redis.call("HSET", owners, member, owner)
redis.call("INCRBY", total, size)
redis.call("INCRBY", held(owner), size)
return gone
"""
# Why images went, in the order the script counts them: Redis had expired them, their key
# held its share, or the store was full.
GONE_REASONS = ("expired", "share", "full")


class RedisStore:
    """Images in Redis, each under its own key with a TTL, so Redis does the forgetting, and
    bounded like the memory store: IMAGE_STORE_MAX_BYTES in all, a share per owner, the
    oldest dropped first (and logged).

    The value is the image's type, a newline, then its bytes. Any failure to reach Redis
    becomes StoreUnavailableError; redis-py reconnects by itself once Redis is back.
    """

    name = "redis"

    def __init__(self, client: redis.Redis, ttl: int, max_bytes: int, share: int) -> None:
        self._ttl = ttl
        self._max_bytes = max_bytes
        self._share = share
        self._redis = client
        self._put = client.register_script(_PUT)

    def put(self, data: bytes, mime: str, owner: str) -> str:
        key = new_key()
        value = mime.encode() + b"\n" + data
        arguments: list[bytes | str | int] = [key, owner or "-", value, self._ttl * 1000]
        arguments += [self._max_bytes, self._share, INDEX_PREFIX, REDIS_PREFIX]
        with _reaching_redis():
            gone = self._put(keys=[REDIS_PREFIX + key], args=arguments)
        for index, reason in enumerate(GONE_REASONS):
            metrics.images_evicted(self.name, reason, gone[2 * index + 1], gone[2 * index])
        evicted = gone[2] + gone[4]  # those that went before their expiry
        if evicted:
            log.warning(
                "image store full (IMAGE_STORE_MAX_BYTES=%d, a key's share %d): dropped %d "
                "images before their expiry",
                self._max_bytes,
                self._share,
                evicted,
            )
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
