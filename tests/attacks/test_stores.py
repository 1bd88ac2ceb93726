"""Stores one client could fill: the Redis store had no byte bound at all, and one key could
push everyone else's images out of the memory store.

Before: 97 MB stored in Redis with IMAGE_STORE_MAX_BYTES=64 MiB; the memory store dropped the
oldest image of anyone to make room for a flooding key.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from tests.e2e.service import Service
from tests.helpers import API_KEY, image_url
from tests.servers import RedisServer

# Correctness under attack, not speed: it may run beside other tests.
pytestmark = pytest.mark.untimed

MB = 2**20
SIZE = "1024x1024"  # sdxl-base PNGs of the stand-in's grain: about 2.5 MB each


def draw(service: Service, key: str, seed: int) -> str:
    answer = service.client(key).chat.completions.create(
        model="sdxl-base", messages=[{"role": "user", "content": f"a fox {SIZE}"}], seed=seed
    )
    return image_url(answer.choices[0].message.content)


def test_redis_holds_no_more_than_its_bound(
    make_service: Callable[..., Service], redis_store: RedisServer
) -> None:
    bound = 16 * MB
    service = make_service(
        IMAGE_STORE=redis_store.url,
        IMAGE_STORE_MAX_BYTES=str(bound),
        MODELS="flux-1-schnell,sdxl-base",
    )
    urls = [draw(service, API_KEY, seed) for seed in range(20)]
    client = redis_store.client()
    images = client.keys("flux:image:*")
    stored = sum(client.strlen(key) for key in images)
    assert stored <= bound, f"{stored / MB:.0f} MB stored"
    assert int(client.get("flux:store:bytes")) == stored  # the index says what is there
    assert requests.get(urls[0], timeout=5).status_code == 404  # the oldest went first
    assert requests.get(urls[-1], timeout=5).status_code == 200
    assert "image store full" in service.log()


def test_one_key_cannot_push_out_anothers_images(
    make_service: Callable[..., Service], redis_store: RedisServer
) -> None:
    for store in ("memory", redis_store.url):
        redis_store.client().flushall()
        service = make_service(
            IMAGE_STORE=store,
            IMAGE_STORE_MAX_BYTES=str(16 * MB),
            API_KEY=f"{API_KEY},sk-flooder-key-0123",  # two keys: each holds at most half
            MODELS="flux-1-schnell,sdxl-base",
        )
        kept = draw(service, API_KEY, seed=1)
        flood = [draw(service, "sk-flooder-key-0123", seed) for seed in range(2, 20)]
        assert requests.get(kept, timeout=5).status_code == 200, store
        assert requests.get(flood[0], timeout=5).status_code == 404, store
        assert requests.get(flood[-1], timeout=5).status_code == 200, store
