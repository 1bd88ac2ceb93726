"""The Redis client's pool leaves a Redis that timed out alone for a while, and one that
refused not at all."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from flux_service.stores import redis_client as module
from flux_service.stores.redis_client import redis_client

TIMEOUT = 0.2
QUIET = 0.6


@pytest.fixture(autouse=True)
def _short_times(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "REDIS_TIMEOUT", TIMEOUT)
    monkeypatch.setattr(module, "QUIET_SECONDS", QUIET)


@contextmanager
def hung_server(port: int = 0) -> Iterator[int]:
    """A server that takes connections and never answers, as a hung Redis; its port."""
    with socket.create_server(("127.0.0.1", port), backlog=64) as listener:
        yield listener.getsockname()[1]  # the kernel completes the handshakes; no one reads


def failing_ping(client: redis.Redis, error: type[Exception]) -> float:
    """Seconds a ping took to fail with `error`."""
    started = time.monotonic()
    with pytest.raises(error):
        client.ping()
    return time.monotonic() - started


def test_a_redis_that_timed_out_is_left_alone_then_tried_again() -> None:
    with hung_server() as port:
        client = redis_client(f"redis://127.0.0.1:{port}/0")
        assert failing_ping(client, redis.TimeoutError) >= TIMEOUT
        assert failing_ping(client, redis.TimeoutError) < TIMEOUT / 4
        assert failing_ping(client, redis.TimeoutError) < TIMEOUT / 4
        time.sleep(QUIET)
        assert failing_ping(client, redis.TimeoutError) >= TIMEOUT  # tried again


def test_a_refusal_is_not_remembered() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    client = redis_client(f"redis://127.0.0.1:{port}/0")
    failing_ping(client, redis.ConnectionError)
    # Nothing was remembered: the next call reaches the server that is there now.
    with hung_server(port):
        assert failing_ping(client, redis.TimeoutError) >= TIMEOUT
