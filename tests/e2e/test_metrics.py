"""GET /metrics through gunicorn with four workers: the counts are exactly the requests made,
summed over every worker (and more than one served them), and METRICS_TOKEN is enforced; a
dead worker's counts stay; and the Redis store says why pictures left it."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import openai
import psutil
import pytest
import requests
from prometheus_client import REGISTRY
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from flux_service.stores.redis_client import redis_client
from flux_service.stores.redis_store import RedisStore
from tests.client_requests import CLIENT_TASKS
from tests.e2e.service import Service
from tests.e2e.test_scale import draw, draw_at_once, workers
from tests.helpers import API_KEY, AUTH, Standin
from tests.servers import RedisServer

TOKEN = "metrics-token-for-the-e2e-test"
MODEL = "@cf/black-forest-labs/flux-1-schnell"
CHATS = 16  # at once: enough that several workers take some
IMAGE_REQUESTS = 3  # of two images each
CHAT = "/v1/chat/completions"


def scrape(service: Service) -> dict[tuple[str, frozenset], float]:
    """Every sample /metrics shows, by name and labels."""
    response = requests.get(
        f"{service.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests_on(route: str, status: int) -> tuple[str, frozenset]:
    return "flux_requests_total", frozenset({"route": route, "status": str(status)}.items())


def metrics_folder(pid: int) -> Path:
    """The folder of counts the worker `pid` writes to: the one of the live gauge it holds open
    once it has loaded the app (on a busy machine, a worker can still be loading it after others
    served). Not found by name: a service killed outright leaves its folder behind, and a later
    worker may be given the same pid."""
    deadline = time.monotonic() + 30
    while not (
        gauges := [
            Path(file.path)
            for file in psutil.Process(pid).open_files()
            if Path(file.path).name == f"gauge_livesum_{pid}.db"
        ]
    ):
        assert time.monotonic() < deadline, f"worker {pid} never loaded the app"
        time.sleep(0.1)
    return gauges[0].parent


def live_gauges(folder: Path) -> set[int]:
    """The workers whose live gauges are in `folder`."""
    return {int(path.stem.rsplit("_", 1)[1]) for path in folder.glob("gauge_livesum_*.db")}


def chats_served_by(folder: Path, pid: int) -> float:
    """The chat requests one worker answered, from its own file of counts."""
    path = folder / f"counter_{pid}.db"
    if not path.exists():
        return 0.0
    return sum(
        sample.value
        for metric in MultiProcessCollector.merge([str(path)], accumulate=False)
        for sample in metric.samples
        if sample.name == "flux_requests_total" and sample.labels["route"] == CHAT
    )


@pytest.fixture
def service(make_service: Callable[..., Service], tmp_path: Path) -> Service:
    return make_service(
        label="metrics",
        IMAGE_STORE=f"file://{tmp_path}",
        WEB_CONCURRENCY="4",
        # A worker holding 10 connections accepts no more: a burst of 16 takes two at least,
        # where on a quiet machine one worker would take them all.
        WORKER_CONNECTIONS="10",
        METRICS_TOKEN=TOKEN,
    )


def test_the_counts_are_the_requests_made_over_every_worker(
    service: Service, standin: Standin
) -> None:
    assert len(workers(service)) == 4
    client = service.client()
    standin.configure(latency=0.3)  # each chat holds its worker a while: the others take some
    urls = draw_at_once(client, CHATS)
    assert len(urls) == CHATS
    standin.configure(latency=0)
    for _ in range(IMAGE_REQUESTS):
        assert len(client.images.generate(prompt="a red fox", n=2).data) == 2
    for url in urls:
        assert requests.get(url, timeout=5).status_code == 200
    standin.fail({"kind": "error", "status": 400, "code": 5006, "message": "AiError: Bad input"})
    failed = requests.post(
        f"{service.url}{CHAT}",
        json={"messages": [{"role": "user", "content": "a red fox"}]},
        headers=AUTH,
        timeout=30,
    )
    assert failed.status_code == 400
    code = failed.json()["error"]["code"]
    assert requests.get(f"{service.url}/v1/nowhere", headers=AUTH, timeout=5).status_code == 404
    _, task, kind, _ = CLIENT_TASKS[0]
    assert requests.post(f"{service.url}{CHAT}", json=task, headers=AUTH, timeout=5).ok
    # Without the token, and with a wrong one: 401 in the OpenAI shape.
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        refused = requests.get(f"{service.url}/metrics", headers=headers, timeout=5)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_metrics_token"

    seen = scrape(service)

    drawn = CHATS + 2 * IMAGE_REQUESTS
    assert seen[requests_on(CHAT, 200)] == CHATS + 1  # and the client task
    assert seen[requests_on(CHAT, 400)] == 1
    assert seen[requests_on("/v1/images/generations", 200)] == IMAGE_REQUESTS
    assert seen[requests_on("/image/<key>", 200)] == CHATS
    assert seen[requests_on("(no route)", 404)] == 1
    assert seen[requests_on("/metrics", 401)] == 2
    assert requests_on("/metrics", 200) not in seen  # this scrape counts once it is sent
    images = {"kind": "generation", "model": MODEL}
    assert seen[("flux_images_total", frozenset({**images, "outcome": "ok"}.items()))] == drawn
    assert seen[("flux_images_total", frozenset({**images, "outcome": code}.items()))] == 1
    model = frozenset({"model": MODEL}.items())
    assert seen[("flux_upstream_seconds_count", model)] == drawn + 1  # the refusal too
    assert seen[("flux_upstream_first_byte_seconds_count", model)] == drawn + 1
    assert seen[("flux_pictures_stored_total", frozenset({"store": "file"}.items()))] == drawn
    assert seen[("flux_client_tasks_total", frozenset({"kind": kind}.items()))] == 1
    assert seen[("flux_images_drawing", frozenset())] == 0
    assert not any(key[0] == "flux_refused_total" for key in seen)
    text = requests.get(
        f"{service.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    ).text
    assert TOKEN not in text
    assert AUTH["Authorization"].split()[1] not in text

    # Each worker counts the chats it answered in a file of its own; the scrape is their sum.
    processes = workers(service)
    folder = metrics_folder(processes[0].pid)

    def served() -> list[float]:
        return [chats_served_by(folder, process.pid) for process in processes]

    assert sum(served()) == CHATS + 1 + 1  # the chats, the client task and the failed one
    # A worker takes at most 10 of a burst of 16 (WORKER_CONNECTIONS), yet on a busy machine
    # it may finish some before the rest arrive: more bursts, until a second one has answered.
    # Each from a new client: the SDK keeps its connections open, and those of one burst that
    # a single worker took would carry every later burst to it alone.
    standin.configure(latency=0.3)
    more = 0
    deadline = time.monotonic() + 60
    while sum(1 for count in served() if count) < 2:
        assert time.monotonic() < deadline, served()
        with openai.OpenAI(base_url=f"{service.url}/v1", api_key=API_KEY, max_retries=0) as new:
            more += len(draw_at_once(new, 4))
    assert sum(served()) == CHATS + 1 + 1 + more
    assert scrape(service)[requests_on(CHAT, 200)] == CHATS + 1 + more
    assert "Traceback" not in service.log()


def test_a_dead_workers_counts_stay_and_its_live_gauge_goes(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    service = make_service(
        label="metrics-kill", IMAGE_STORE=f"file://{tmp_path}", WEB_CONCURRENCY="2"
    )
    for index in range(4):
        draw(service.client(), f"fox {index}")
    before = scrape(service)
    victim = workers(service)[0]
    folder = metrics_folder(victim.pid)
    victim.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 10
    # Until the dead worker's live gauge has gone, and its successor has loaded the app (its
    # gauge is there): one stopped while it boots would miss the signal to stop.
    while victim.pid in live_gauges(folder) or live_gauges(folder) != {
        process.pid for process in workers(service)
    }:
        assert time.monotonic() < deadline, (victim.pid, live_gauges(folder), workers(service))
        time.sleep(0.1)
    after = scrape(service)
    assert after[requests_on(CHAT, 200)] == before[requests_on(CHAT, 200)] == 4
    assert after[("flux_images_drawing", frozenset())] == 0


def test_the_redis_store_counts_what_leaves_and_why(redis_store: RedisServer) -> None:
    store = RedisStore(redis_client(redis_store.url), ttl=1, max_bytes=100, share=60)
    before = {reason: evicted_bytes("redis", reason) for reason in ("expired", "full", "share")}
    store.put(held(40), "image/jpeg", "one")
    store.put(held(40), "image/jpeg", "one")  # over one's share of 60: its first goes
    store.put(held(50), "image/jpeg", "two")
    store.put(held(30), "image/jpeg", "three")  # over the 100 in all: the oldest goes
    time.sleep(1.2)
    store.put(held(10), "image/jpeg", "three")  # Redis has expired all before it
    gone = {reason: evicted_bytes("redis", reason) - before[reason] for reason in before}
    assert gone == {"share": 40, "full": 40, "expired": 80}


def held(size: int) -> bytes:
    """A picture that takes `size` bytes in Redis, which holds its type before it."""
    return b"x" * (size - len(b"image/jpeg\n"))


def evicted_bytes(store: str, reason: str) -> float:
    """What this process counted (the store above runs here, not in a worker)."""
    labels = {"store": store, "reason": reason}
    return REGISTRY.get_sample_value("flux_pictures_evicted_bytes_total", labels) or 0.0
