"""Scaling out: a shared Redis store for several workers, bounded memory, concurrency and rate
limits, health, and structured logs."""

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
from flux_service.launcher import free_port, procfile_command, standin_env
from tests.conftest import (
    API_KEY,
    STANDIN_TOKEN,
    RedisServer,
    Service,
    Standin,
    fetch_picture,
    image_url,
)

FOX = [{"role": "user", "content": "a red fox in deep snow"}]
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def draw(client: openai.OpenAI, prompt: str = "a red fox") -> str:
    messages = [{"role": "user", "content": prompt}]
    return image_url(
        client.chat.completions.create(model="x", messages=messages).choices[0].message.content
    )


def workers(service: Service) -> list[psutil.Process]:
    return psutil.Process(service.server.process.pid).children()


def test_four_workers_share_every_picture_through_redis(
    make_service: Callable[..., Service], standin: Standin, redis_store: RedisServer
) -> None:
    service = make_service(IMAGE_STORE=redis_store.url, WEB_CONCURRENCY="4")
    assert len(workers(service)) == 4
    client = service.client()
    urls: list[str] = []
    threads = [
        threading.Thread(target=lambda i=i: urls.append(draw(client, f"fox {i}")))
        for i in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
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
    make_service: Callable[..., Service], standin: Standin, redis_store: RedisServer
) -> None:
    service = make_service(IMAGE_STORE=redis_store.url, IMAGE_EXPIRATION="2")
    url = draw(service.client())
    key = url.rsplit("/", 1)[1]
    assert 0 < redis_store.client().pttl(f"flux:image:{key}") <= 2000
    response, _ = fetch_picture(url)
    assert int(response.headers["Cache-Control"].split("=")[1]) <= 2
    time.sleep(2.2)
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
    }

    drawn = len(standin.received())
    redis_store.stop()
    health = requests.get(f"{service.url}/healthz", timeout=5)
    assert (health.status_code, health.json()["status"]) == (503, "unavailable")
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="x", messages=FOX)
    assert caught.value.status_code == 503
    assert "picture store (Redis) cannot be reached" in caught.value.message
    assert caught.value.response.headers["Retry-After"] == "5"
    assert len(standin.received()) == drawn  # nothing was generated, so nothing was paid for
    assert requests.get(before, timeout=5).status_code == 503

    redis_store.start()
    deadline = time.monotonic() + 10
    while requests.get(f"{service.url}/healthz", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the service did not see Redis come back"
        time.sleep(0.2)
    fetch_picture(before)  # stored before the outage, still there after it
    fetch_picture(draw(client))


def test_several_memory_workers_are_refused_at_start_up(standin: Standin) -> None:
    env = {
        **read_environment(env_file=None),
        **standin_env(standin.server, STANDIN_TOKEN),
        "API_KEY": API_KEY,
        "WEB_CONCURRENCY": "3",
        "PORT": str(free_port()),
    }
    done = subprocess.run(procfile_command(), env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "WEB_CONCURRENCY=3 needs a shared picture store" in done.stderr
    assert "IMAGE_STORE=redis://" in done.stderr


def test_memory_stays_within_its_bound(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    budget = 64 * 2**20
    service = make_service(
        MODELS="sdxl-base", FLUX_MODEL="sdxl-base", IMAGE_STORE_MAX_BYTES=str(budget)
    )
    client = service.client()
    (worker,) = workers(service)
    first = draw(client, "a big noisy picture 2048x2048")
    size = len(requests.get(first, timeout=10).content)
    before = worker.memory_info().rss
    urls = [first] + [
        draw(client, f"a big noisy picture {index} 2048x2048")
        for index in range(math.ceil(3 * budget / size))
    ]
    growth = worker.memory_info().rss - before
    assert growth <= budget + 48 * 2**20, f"RSS grew {growth / 2**20:.0f} MB"
    assert requests.get(urls[0], timeout=5).status_code == 404  # the oldest went first
    fetch_picture(urls[-1])
    assert "picture store full (IMAGE_STORE_MAX_BYTES=67108864)" in service.log()


def test_generations_beyond_the_cap_wait_then_get_503(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    service = make_service(MAX_CONCURRENT_GENERATIONS="2", GENERATION_WAIT="1")
    standin.configure(latency=3.0)
    results: dict[int, requests.Response] = {}

    def post(index: int) -> None:
        results[index] = requests.post(
            f"{service.url}/v1/chat/completions",
            json={"messages": FOX},
            headers=AUTH,
            timeout=30,
        )

    threads = [threading.Thread(target=post, args=(i,)) for i in range(3)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
        time.sleep(0.2)
    threads[2].join()
    waited = time.monotonic() - started
    for thread in threads:
        thread.join()
    statuses = sorted(response.status_code for response in results.values())
    assert statuses == [200, 200, 503]
    refused = next(r for r in results.values() if r.status_code == 503)
    assert refused.headers["Retry-After"] == "5"
    assert "drawing as many pictures at once as it allows" in refused.json()["error"]["message"]
    assert 1.0 <= waited < 2.5  # it waited its second, not the whole generation
    assert len(standin.received()) == 2


def test_a_stream_beyond_the_cap_says_so_in_the_stream(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    service = make_service(MAX_CONCURRENT_GENERATIONS="1", GENERATION_WAIT="0.5")
    standin.configure(latency=3.0)
    busy = threading.Thread(target=lambda: draw(service.client()))
    busy.start()
    time.sleep(0.3)
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
    assert "drawing as many pictures at once as it allows" in text
    assert '"code": "server_is_overloaded"' in text
    assert text.endswith("data: [DONE]\n\n")


def test_rate_limits_count_pictures_per_key(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    service = make_service(RATE_LIMIT="2/minute", API_KEY=f"{API_KEY},other-key")
    client = service.client()
    first = time.time()
    draw(client)
    for _ in range(3):  # connection checks draw nothing and do not count
        client.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}])
    draw(client)
    with pytest.raises(openai.RateLimitError) as caught:
        draw(client)
    error = caught.value
    assert error.status_code == 429
    assert error.body["type"] == "requests" and "RATE_LIMIT" in error.body["message"]
    expected = 60 - (time.time() - first)
    assert abs(int(error.response.headers["Retry-After"]) - expected) <= 1.5
    assert error.response.headers["x-should-retry"] == "false"
    draw(service.client(key="other-key"))  # another key has its own budget
    assert len(standin.received()) == 3


def test_rate_limits_are_shared_by_workers_through_redis(
    make_service: Callable[..., Service], standin: Standin, redis_store: RedisServer
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


def test_health_and_one_log_line_per_request(service: Service, standin: Standin) -> None:
    assert requests.get(f"{service.url}/healthz", timeout=5).json() == {
        "status": "ok",
        "store": "memory",
    }
    url = draw(service.client())
    requests.get(url, timeout=5)
    time.sleep(0.2)
    lines = [json.loads(line) for line in service.log().splitlines() if line.startswith("{")]
    requests_logged = [line for line in lines if line["message"] == "request"]
    chat = [line for line in requests_logged if line["route"] == "/v1/chat/completions"][-1]
    assert chat["method"] == "POST" and chat["status"] == 200
    assert chat["model"] == "@cf/black-forest-labs/flux-1-schnell"
    assert chat["upstream_ms"] > 0 and chat["duration_ms"] >= chat["upstream_ms"]
    fetched = [line for line in requests_logged if line["route"] == "/image/<key>"]
    assert fetched and fetched[-1]["status"] == 200
    text = service.log()
    assert API_KEY not in text and STANDIN_TOKEN not in text
    assert url.rsplit("/", 1)[1] not in text
