"""Scaling out: a shared Redis store for several workers, bounded memory, the cap on
generations at once, rate limits shared through Redis, and one log line per request."""

from __future__ import annotations

import json
import math
import subprocess
import threading
import time
from collections.abc import Callable

import openai
import psutil
import pytest
import requests

from config import read_environment
from flux_service.launcher import procfile_command, standin_env
from tests.e2e.service import Service
from tests.helpers import (
    API_KEY,
    AUTH,
    FOX,
    ONE_ACCOUNT,
    STANDIN_TOKEN,
    Standin,
    fetch_image,
    image_url,
)
from tests.servers import RedisServer, Server


def draw(client: openai.OpenAI, prompt: str = "a red fox", seed: int | None = None) -> str:
    messages = [{"role": "user", "content": prompt}]
    answer = client.chat.completions.create(model="x", messages=messages, seed=seed)
    return image_url(answer.choices[0].message.content)


def draw_at_once(client: openai.OpenAI, count: int) -> list[str]:
    """The links of `count` pictures drawn by as many requests at once."""
    urls: list[str] = []
    threads = [
        threading.Thread(target=lambda i=i: urls.append(draw(client, f"fox {i}")))
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return urls


def workers(service: Service) -> list[psutil.Process]:
    return psutil.Process(service.server.process.pid).children()


def test_four_workers_share_every_image_through_redis(
    make_service: Callable[..., Service], redis_store: RedisServer
) -> None:
    service = make_service(IMAGE_STORE=redis_store.url, WEB_CONCURRENCY="4")
    assert len(workers(service)) == 4
    urls = draw_at_once(service.client(), 20)
    assert len(urls) == 20
    for url in urls:
        first = None
        for _ in range(10):
            # A new connection each time, so the fetches land on whichever worker accepts.
            response = requests.get(url, timeout=5, headers={"Connection": "close"})
            assert response.status_code == 200
            assert response.headers["Content-Type"] == "image/jpeg"
            first = first or response.content
            assert response.content == first
    assert len(redis_store.client().keys("flux:image:*")) == 20


def test_redis_keeps_the_ttl(
    make_service: Callable[..., Service], redis_store: RedisServer
) -> None:
    service = make_service(IMAGE_STORE=redis_store.url, IMAGE_EXPIRATION="1")
    url = draw(service.client())
    key = url.rsplit("/", 1)[1]
    assert 0 < redis_store.client().pttl(f"flux:image:{key}") <= 1000
    response, _ = fetch_image(url)
    assert int(response.headers["Cache-Control"].split("=")[1]) <= 1
    time.sleep(1.1)
    assert requests.get(url, timeout=5).status_code == 404


def test_redis_going_down_is_a_clear_503_and_everything_recovers(
    make_service: Callable[..., Service], standin: Standin, redis_store: RedisServer
) -> None:
    service = make_service(IMAGE_STORE=redis_store.url, WEB_CONCURRENCY="2")
    client = service.client()
    before = draw(client)
    assert requests.get(f"{service.url}/healthz", timeout=5).json() == {
        "status": "ok",
        "store": "redis",
        "accounts": ONE_ACCOUNT,
    }

    drawn = len(standin.received())
    redis_store.stop()
    health = requests.get(f"{service.url}/healthz", timeout=5)
    assert (health.status_code, health.json()["status"]) == (503, "unavailable")
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="x", messages=FOX)
    assert caught.value.status_code == 503
    assert "image store (Redis) cannot be reached" in caught.value.message
    assert caught.value.response.headers["Retry-After"] == "5"
    assert len(standin.received()) == drawn  # nothing was generated, so nothing was paid for
    assert requests.get(before, timeout=5).status_code == 503

    redis_store.start()
    service.wait_until_healthy()
    fetch_image(before)  # stored before the outage, still there after it
    fetch_image(draw(client))


def test_several_memory_workers_are_refused_at_start_up(standin_server: Server) -> None:
    env = {
        **read_environment(env_file=None),
        **standin_env(standin_server.url, STANDIN_TOKEN),
        "API_KEY": API_KEY,
        "WEB_CONCURRENCY": "3",
    }
    done = subprocess.run(procfile_command(), env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "WEB_CONCURRENCY=3 needs a shared image store" in done.stderr
    assert "IMAGE_STORE=redis://" in done.stderr


def test_memory_stays_within_its_bound(make_service: Callable[..., Service]) -> None:
    budget = 64 * 2**20
    service = make_service(
        MODELS="sdxl-base", FLUX_MODEL="sdxl-base", IMAGE_STORE_MAX_BYTES=str(budget)
    )
    client = service.client()
    (worker,) = workers(service)
    # The same prompt and seed every time: the stand-in draws it once, the service stores
    # what it is sent each time.
    first = draw(client, "a big noisy image 2048x2048", seed=7)
    size = len(requests.get(first, timeout=10).content)
    before = worker.memory_info().rss
    urls = [first] + [
        draw(client, "a big noisy image 2048x2048", seed=7)
        for _ in range(math.ceil(3 * budget / size))
    ]
    growth = worker.memory_info().rss - before
    assert growth <= budget + 48 * 2**20, f"RSS grew {growth / 2**20:.0f} MB"
    assert requests.get(urls[0], timeout=5).status_code == 404  # the oldest went first
    fetch_image(urls[-1])
    assert "image store full (IMAGE_STORE_MAX_BYTES=67108864)" in service.log()


def test_a_stream_beyond_the_cap_says_so_in_the_stream(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    service = make_service(MAX_CONCURRENT_GENERATIONS="1", GENERATION_WAIT="0.3")
    standin.configure(latency=1.0)
    busy = threading.Thread(target=lambda: draw(service.client()))
    busy.start()
    deadline = time.monotonic() + 5
    while not standin.received():  # the first generation holds the only slot
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with requests.post(
        f"{service.url}/v1/chat/completions",
        json={"messages": FOX, "stream": True},
        headers=AUTH,
        stream=True,
        timeout=30,
    ) as response:
        text = response.text
    busy.join()
    assert response.status_code == 200
    assert "drawing as many images at once as it allows" in text
    assert '"code": "server_is_overloaded"' in text
    assert text.endswith("data: [DONE]\n\n")


def test_rate_limits_are_shared_by_workers_through_redis(
    make_service: Callable[..., Service], redis_store: RedisServer
) -> None:
    service = make_service(IMAGE_STORE=redis_store.url, WEB_CONCURRENCY="3", RATE_LIMIT="3/minute")
    statuses = []
    for _ in range(5):
        response = requests.post(
            f"{service.url}/v1/chat/completions",
            json={"messages": FOX},
            headers={**AUTH, "Connection": "close"},
            timeout=30,
        )
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429, 429]


def test_health_and_one_log_line_per_request(service: Service) -> None:
    assert requests.get(f"{service.url}/healthz", timeout=5).json() == {
        "status": "ok",
        "store": "memory",
        "accounts": ONE_ACCOUNT,
    }
    url = draw(service.client())
    requests.get(url, timeout=5)  # its line is written before the answer is sent
    lines = [json.loads(line) for line in service.log().splitlines() if line.startswith("{")]
    requests_logged = [line for line in lines if line["message"] == "request"]
    chat = [line for line in requests_logged if line["route"] == "/v1/chat/completions"][-1]
    assert chat["method"] == "POST"
    assert chat["status"] == 200
    assert chat["model"] == "@cf/black-forest-labs/flux-1-schnell"
    assert chat["upstream_ms"] > 0
    assert chat["duration_ms"] >= chat["upstream_ms"]
    fetched = [line for line in requests_logged if line["route"] == "/image/<key>"]
    assert fetched
    assert fetched[-1]["status"] == 200
    text = service.log()
    assert API_KEY not in text
    assert STANDIN_TOKEN not in text
    assert url.rsplit("/", 1)[1] not in text
