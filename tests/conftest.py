"""Fixtures: the stand-in and the service as real processes on loopback, and clients for them.

Servers start once per test session (per configuration) and stop in the fixture's finally.
Each test starts from a stand-in with no queued faults and no recorded requests.
"""

from __future__ import annotations

import io
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import openai
import pytest
import redis
import requests
from PIL import Image

from config import read_environment
from flux_service.launcher import Server, free_port, standin_env, start_service, start_standin

API_KEY = "test-key"
STANDIN_TOKEN = "standin-token"
OPTIMIZER_KEY = "optimizer-key"
GATEWAY_TOKEN = "gateway-token"
IMAGE_URL = re.compile(r"!\[[^\]]*\]\((\S+)\)")


@dataclass
class Standin:
    """The running stand-in and the handles the tests steer it with."""

    server: Server

    @property
    def url(self) -> str:
        return self.server.url

    def reset(self) -> None:
        requests.post(f"{self.url}/_standin/reset", timeout=5).raise_for_status()
        self.configure(latency=0.0)

    def configure(self, latency: float) -> None:
        requests.post(f"{self.url}/_standin/config", json={"latency": latency}, timeout=5)

    def fail(self, *faults: dict, target: str = "workers_ai") -> None:
        """Queue faults: each is used up by the next request to `target`."""
        body = {"target": target, "faults": list(faults)}
        requests.post(f"{self.url}/_standin/faults", json=body, timeout=5).raise_for_status()

    def refuse(self, model: str, *fields: str) -> None:
        """Make `model` refuse `fields` as unknown, as after a schema change."""
        body = {"refuse": {model: list(fields)}}
        requests.post(f"{self.url}/_standin/config", json=body, timeout=5).raise_for_status()

    def received(self, optimizer: bool = False) -> list[dict]:
        """What the stand-in received, oldest first (Workers AI calls, or optimizer calls)."""
        seen = requests.get(f"{self.url}/_standin/requests", timeout=5).json()
        return [entry for entry in seen if bool(entry.get("optimizer")) == optimizer]


@dataclass
class Service:
    """A running service and the log file its process writes."""

    server: Server
    log_path: Path
    clients: dict[str, openai.OpenAI] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def client(self, key: str = API_KEY) -> openai.OpenAI:
        """The official OpenAI SDK pointed at this service, without retries."""
        if key not in self.clients:
            self.clients[key] = openai.OpenAI(base_url=f"{self.url}/v1", api_key=key, max_retries=0)
        return self.clients[key]

    def stop(self) -> None:
        for client in self.clients.values():
            client.close()
        self.server.stop()


@pytest.fixture(scope="session")
def standin_server() -> Iterator[Standin]:
    server = start_standin(
        token=STANDIN_TOKEN, optimizer_key=OPTIMIZER_KEY, gateway_token=GATEWAY_TOKEN
    )
    try:
        yield Standin(server)
    finally:
        server.stop()


@pytest.fixture
def standin(standin_server: Standin) -> Standin:
    """The stand-in, fresh: no faults queued, nothing recorded, no latency."""
    standin_server.reset()
    return standin_server


def base_env(standin: Standin) -> dict[str, str]:
    """The settings every test service starts from."""
    return {
        **read_environment(env_file=None),
        **standin_env(standin.server, STANDIN_TOKEN),
        "API_KEY": API_KEY,
        "UPSTREAM_TIMEOUT": "10",
        "EXTERNAL_API_BASE": f"{standin.url}/openai/v1",
        "EXTERNAL_MODEL": "standin-writer",
        "EXTERNAL_API_KEY": OPTIMIZER_KEY,
    }


@pytest.fixture(scope="session")
def make_service(
    standin_server: Standin, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Service]]:
    """Start a service with extra settings, once a session: make_service(IMAGE_EXPIRATION="2").

    A `label` gives a test a process of its own, for state that must not leak into others.
    """
    running: dict[tuple, Service] = {}

    def make(label: str = "", **settings: str) -> Service:
        key = (label, *sorted(settings.items()))
        if key not in running:
            log_path = tmp_path_factory.mktemp("service") / "service.log"
            env = {**base_env(standin_server), **settings}
            with log_path.open("wb") as log:
                server = start_service(env, stdout=log, stderr=log)
            running[key] = Service(server, log_path)
        return running[key]

    try:
        yield make
    finally:
        for service in running.values():
            service.stop()


@pytest.fixture
def service(make_service: Callable[..., Service], standin: Standin) -> Service:
    """The service with default settings."""
    return make_service()


@pytest.fixture
def client(service: Service) -> openai.OpenAI:
    return service.client()


@dataclass
class RedisServer:
    """A real redis-server on loopback, with an append-only file so a restart loses nothing."""

    port: int
    directory: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "always",
            "--save", "", "--loglevel", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Shut Redis down as an operator would (SIGTERM: it writes its file and exits)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_store(redis_server: RedisServer) -> RedisServer:
    """Redis, running and empty."""
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()
    redis_server.client().flushall()
    return redis_server


CHROMIUM = "/usr/bin/chromium"
# Headless, and quiet: this machine reaches no network, so no background connections.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROWSER_PAGES = Path(__file__).resolve().parent / "browser"


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def other_origin() -> Iterator[str]:
    """tests/browser served from its own port: a different origin from the service."""
    handler = partial(_QuietHandler, directory=str(BROWSER_PAGES))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def image_url(content: str) -> str:
    """The URL of the picture in a markdown answer."""
    match = IMAGE_URL.search(content)
    assert match, f"no image in the answer: {content!r}"
    return match[1]


def fetch_picture(url: str) -> tuple[requests.Response, Image.Image]:
    """GET a picture URL; the response and the decoded picture (fully loaded)."""
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    picture = Image.open(io.BytesIO(response.content))
    picture.load()
    return response, picture
