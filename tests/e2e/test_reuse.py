"""Reused pictures through real servers: identical repeatable requests, at once and after,
cost one upstream call, in one worker, in the workers of a disk store, and in two instances
sharing Redis; random seeds draw every time."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.service import Service
from tests.helpers import AUTH, Standin, image_url
from tests.servers import RedisServer

REUSE = {"REUSE_IMAGES": "true"}
REUSED = "♻️ Reused"


def chat(service: Service, body: dict) -> str:
    """The content of a chat answer, on a connection of its own."""
    response = requests.post(
        f"{service.url}/v1/chat/completions",
        json=body,
        headers={**AUTH, "Connection": "close"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


def at_once(calls: list[Callable[[], str]]) -> list[str]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def fox(model: str = "flux-1-schnell") -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "a red fox in the snow"}]}


def served(answers: list[str]) -> set[bytes]:
    """The bytes of every picture the answers link, each fetched (200) on its own."""
    pictures = set()
    for answer in answers:
        response = requests.get(image_url(answer), timeout=10, headers={"Connection": "close"})
        assert response.status_code == 200
        pictures.add(response.content)
    return pictures


def test_forty_identical_schnell_requests_cost_one_upstream_call(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    service = make_service(**REUSE)
    standin.configure(latency=1.0)  # the first 20 are all waiting at once
    answers = at_once([lambda: chat(service, fox())] * 20)
    answers += at_once([lambda: chat(service, fox())] * 20)
    assert len(standin.received()) == 1
    assert sum(REUSED in answer for answer in answers) == 39
    assert len({image_url(answer) for answer in answers}) == 1
    assert len(served(answers)) == 1
    assert '"reused": 1' in service.log()


def test_random_seeds_draw_every_time(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    service = make_service(**REUSE)
    answers = at_once([lambda: chat(service, fox("flux-2-klein-4b"))] * 20)
    answers += at_once([lambda: chat(service, fox("flux-2-klein-4b"))] * 20)
    assert len(standin.received()) == 40
    assert not any(REUSED in answer for answer in answers)
    assert len({image_url(answer) for answer in answers}) == 40


def test_the_workers_of_a_disk_store_share_their_draws(
    make_service: Callable[..., Service],
    standin: Standin,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp("reuse-disk")
    service = make_service(IMAGE_STORE=f"file://{folder}", WEB_CONCURRENCY="3", **REUSE)
    standin.configure(latency=1.0)
    answers = at_once([lambda: chat(service, {**fox(), "seed": 5})] * 20)
    answers += at_once([lambda: chat(service, {**fox(), "seed": 5})] * 5)
    assert len(standin.received()) == 1
    assert len(served(answers)) == 1
    assert '"level": "error"' not in service.log()


def test_two_instances_sharing_redis_share_a_draw_in_flight(
    make_service: Callable[..., Service], standin: Standin, redis_store: RedisServer
) -> None:
    shared = {"IMAGE_STORE": redis_store.url, "WEB_CONCURRENCY": "2", **REUSE}
    one, other = make_service("one", **shared), make_service("other", **shared)
    standin.configure(latency=1.5)
    body = {**fox("flux-2-klein-4b"), "seed": 11}
    answers = at_once([lambda: chat(one, body)] * 10 + [lambda: chat(other, body)] * 10)
    assert len(standin.received()) == 1
    assert sum(REUSED in answer for answer in answers) == 19
    assert len(served(answers)) == 1
    assert chat(other, {**body, "seed": 12}) != answers[0]
    assert len(standin.received()) == 2
