"""Two instances on one Redis agree on which Cloudflare account rests: what one learns from a
refused call, the other never asks that account again."""

from __future__ import annotations

from collections.abc import Callable

import requests

from flux_service.standin import DEFAULT_ACCOUNT
from tests.e2e.service import Service
from tests.helpers import (
    FOX,
    SECOND_ACCOUNT,
    SECOND_TOKEN,
    STANDIN_TOKEN,
    Standin,
    fetch_image,
    image_url,
)
from tests.servers import RedisServer

POOL = f"{DEFAULT_ACCOUNT}:{STANDIN_TOKEN},{SECOND_ACCOUNT}:{SECOND_TOKEN}"
DAILY = {
    "kind": "error",
    "status": 429,
    "code": 4006,
    "message": "4006: you have used up your daily free allocation of 10,000 neurons",
    "account": DEFAULT_ACCOUNT,
}


def draw(service: Service) -> None:
    answer = service.client().chat.completions.create(model="x", messages=FOX)
    fetch_image(image_url(answer.choices[0].message.content))


def accounts(service: Service) -> list[dict]:
    response = requests.get(f"{service.url}/healthz", timeout=5)
    assert response.status_code == 200
    return response.json()["accounts"]


def test_instances_on_one_redis_share_which_account_rests(
    make_service: Callable[..., Service], standin: Standin, redis_store: RedisServer
) -> None:
    first, second = (
        make_service(label=label, CF_ACCOUNTS=POOL, REDIS_URL=redis_store.url)
        for label in ("pool-a", "pool-b")
    )
    standin.fail(DAILY)
    draw(first)
    assert [entry["account"] for entry in standin.received()] == [DEFAULT_ACCOUNT, SECOND_ACCOUNT]

    standin.reset()
    draw(second)
    assert [entry["account"] for entry in standin.received()] == [SECOND_ACCOUNT]
    for service in (first, second):
        assert [state["state"] for state in accounts(service)] == ["resting", "ready"]
        assert accounts(service)[0]["until"].endswith("T00:00:00Z")

    redis = redis_store.client()
    (key,) = redis.keys("flux:account:*")
    assert DEFAULT_ACCOUNT.encode() not in key
    assert STANDIN_TOKEN.encode() not in redis.get(key)
    assert 0 < redis.ttl(key) <= 86400  # gone by itself at 00:00 UTC
    for service in (first, second):
        assert STANDIN_TOKEN not in service.log()
        assert DEFAULT_ACCOUNT not in service.log()
