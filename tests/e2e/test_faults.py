"""Fault injection through the stand-in and a real Redis, each fault with and without streaming:
the right status and message, no worker lost, and the next request works."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import openai
import psutil
import pytest
import requests

from tests.conftest import API_KEY, RedisServer, Service, Standin, fetch_picture, image_url

FOX = [{"role": "user", "content": "a red fox"}]
UPSTREAM_TIMEOUT = 2
# Each fault is queued this many times, so retried faults keep failing until the deadline.
QUEUED = 20

UPSTREAM_FAULTS = [
    ({"kind": "error", "status": 500, "code": 3043, "message": "Internal"}, 502, "HTTP 500"),
    ({"kind": "error", "status": 503, "code": 3043, "message": "Unavailable"}, 502, "HTTP 503"),
    ({"kind": "error", "status": 429, "code": 3040, "message": "Capacity"}, 503, "out of capacity"),
    ({"kind": "error", "status": 429, "code": 3036, "message": "Daily"}, 429, "daily free"),
    ({"kind": "hang", "seconds": 4}, 504, f"did not answer within {UPSTREAM_TIMEOUT} s"),
    ({"kind": "reset"}, 502, "Could not reach Workers AI"),
    ({"kind": "cut"}, 502, "cut off"),
    ({"kind": "success_false", "code": 3043}, 502, "success: false"),
    ({"kind": "garbage", "status": 200}, 502, "HTTP 200"),
    ({"kind": "truncated"}, 502, "truncated"),
    ({"kind": "bad_base64"}, 502, "not valid base64"),
    ({"kind": "not_image"}, 502, "unusable picture"),
]


def workers(service: Service) -> set[int]:
    """The process ids of the service's gunicorn workers."""
    return {child.pid for child in psutil.Process(service.server.process.pid).children()}


def ask(client: openai.OpenAI, stream: bool) -> str:
    """The answer's text, streamed or not; a failure raises as the SDK raises it."""
    if not stream:
        return client.chat.completions.create(model="x", messages=FOX).choices[0].message.content
    chunks = client.chat.completions.create(model="x", messages=FOX, stream=True)
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)


def assert_fine_afterwards(service: Service, standin: Standin, pids: set[int]) -> None:
    standin.reset()
    fetch_picture(image_url(ask(service.client(), stream=False)))
    assert workers(service) == pids, "a worker died"
    assert "Traceback" not in service.log()


@pytest.fixture
def flaky(make_service: Callable[..., Service], standin: Standin) -> Service:
    return make_service(UPSTREAM_TIMEOUT=str(UPSTREAM_TIMEOUT))


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(
    ("fault", "status", "words"),
    UPSTREAM_FAULTS,
    ids=[f"{f['kind']}-{f.get('status', '')}-{f.get('code', '')}" for f, _, _ in UPSTREAM_FAULTS],
)
def test_upstream_faults(
    flaky: Service, standin: Standin, fault: dict, status: int, words: str, stream: bool
) -> None:
    pids = workers(flaky)
    standin.fail(*[fault] * QUEUED)
    started = time.monotonic()
    if stream:
        # The stream has begun (HTTP 200): the failure arrives as an error event the SDK raises.
        with pytest.raises(openai.APIError) as caught:
            ask(flaky.client(), stream=True)
        assert not isinstance(caught.value, openai.APIStatusError)
    else:
        with pytest.raises(openai.APIStatusError) as caught:
            ask(flaky.client(), stream=False)
        assert caught.value.status_code == status
        assert caught.value.response.headers["x-should-retry"] == "false"
    assert words in caught.value.message
    assert time.monotonic() - started < UPSTREAM_TIMEOUT + 1.5
    assert_fine_afterwards(flaky, standin, pids)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(
    "fault", [{"kind": "delay", "seconds": 3}, {"kind": "nonsense"}], ids=["slow", "nonsense"]
)
def test_optimizer_faults_fall_back_to_the_original_prompt(
    make_service: Callable[..., Service], standin: Standin, fault: dict, stream: bool
) -> None:
    service = make_service(PROMPT_OPTIMIZATION="true", OPTIMIZER_TIMEOUT="1")
    pids = workers(service)
    standin.fail(fault, target="optimizer")
    started = time.monotonic()
    content = ask(service.client(), stream)
    assert time.monotonic() - started < 2.5  # the slow optimizer was not waited for
    assert "standin-writer did not answer, so the original prompt was used" in content
    assert standin.received()[0]["inputs"]["prompt"] == "a red fox"
    fetch_picture(image_url(content))
    assert_fine_afterwards(service, standin, pids)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_redis_stopping_during_a_generation_is_a_clear_503(
    make_service: Callable[..., Service],
    standin: Standin,
    redis_store: RedisServer,
    stream: bool,
) -> None:
    service = make_service(IMAGE_STORE=redis_store.url, WEB_CONCURRENCY="2")
    pids = workers(service)
    standin.configure(latency=1.5)
    # Redis goes away after the request was planned, while the picture is being drawn.
    stopper = threading.Timer(0.5, redis_store.stop)
    stopper.start()
    try:
        with pytest.raises(openai.APIError) as caught:
            ask(service.client(), stream)
    finally:
        stopper.join()
    assert "picture store (Redis) cannot be reached" in caught.value.message
    if not stream:
        assert isinstance(caught.value, openai.APIStatusError)
        assert caught.value.status_code == 503

    redis_store.start()
    deadline = time.monotonic() + 10
    while requests.get(f"{service.url}/healthz", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the service did not see Redis come back"
        time.sleep(0.2)
    standin.configure(latency=0.0)
    fetch_picture(image_url(ask(service.client(), stream)))
    assert workers(service) == pids


def leave_after_the_first_bytes(url: str) -> None:
    body = {"model": "x", "messages": FOX, "stream": True}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with requests.post(url, json=body, headers=headers, stream=True, timeout=10) as response:
        assert response.status_code == 200
        next(response.iter_content(64))


def resources(pid: int) -> tuple[int, int]:
    process = psutil.Process(pid)
    return process.num_fds(), process.num_threads()


def test_clients_leaving_mid_stream_leak_nothing(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    service = make_service(label="leaving")
    (pid,) = workers(service)
    standin.configure(latency=1.0)
    url = f"{service.url}/v1/chat/completions"
    seen = []
    for round_ in range(3):
        clients = [
            threading.Thread(target=leave_after_the_first_bytes, args=(url,)) for _ in range(20)
        ]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        # Every generation still runs to its end (its picture is kept), then all is let go.
        deadline = time.monotonic() + 15
        while len(standin.received()) < 20 * (round_ + 1):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(1.5)
        seen.append(resources(pid))
    first, *later = seen
    for fds, threads in later:
        assert fds <= first[0] + 2, seen
        assert threads <= first[1], seen
    port = int(service.url.rsplit(":", 1)[1])
    open_here = [
        c for c in psutil.Process(pid).net_connections("tcp")
        if c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
    ]  # fmt: skip
    assert open_here == []
    assert workers(service) == {pid}
    fetch_picture(image_url(ask(service.client(), stream=True)))
