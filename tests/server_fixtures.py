"""Fixtures for the tiers that run real servers (e2e and attacks): the stand-in and the
service as real processes on loopback, started as the Procfile does, and the clients users
have for them. The root conftest loads this module as a plugin.

Servers start once per test session (per configuration) and all stop together at its end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from config import read_environment
from flux_service.launcher import standin_env
from tests.e2e.service import Service
from tests.helpers import (
    API_KEY,
    GATEWAY_TOKEN,
    OPTIMIZER_KEY,
    SECOND_ACCOUNT,
    SECOND_TOKEN,
    STANDIN_TOKEN,
    Standin,
)
from tests.image_host import ImageHost
from tests.servers import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    STARTS,
    STARTUP_SECONDS,
    RedisServer,
    SeaweedServer,
    Server,
    count_start,
    free_port,
    start_service,
    start_standin,
    stop_all,
)

if TYPE_CHECKING:
    import openai

BROWSER_PAGES = Path(__file__).resolve().parent / "browser"


@pytest.fixture(scope="session")
def standin_server() -> Iterator[Server]:
    server = start_standin(
        token=STANDIN_TOKEN,
        optimizer_key=OPTIMIZER_KEY,
        gateway_token=GATEWAY_TOKEN,
        more_accounts={SECOND_ACCOUNT: SECOND_TOKEN},
    )
    with server:
        yield server


@pytest.fixture
def standin(standin_server: Server) -> Standin:
    """The stand-in, clean: no faults queued, nothing recorded, its starting latency."""
    controls = Standin(requests.Session(), standin_server.url)
    controls.reset()
    return controls


def base_env(standin_url: str) -> dict[str, str]:
    """The settings every test service starts from."""
    return {
        **read_environment(env_file=None),
        **standin_env(standin_url, STANDIN_TOKEN),
        "API_KEY": API_KEY,
        "UPSTREAM_TIMEOUT": "10",
        "EXTERNAL_API_BASE": f"{standin_url}/openai/v1",
        "EXTERNAL_MODEL": "standin-writer",
        "EXTERNAL_API_KEY": OPTIMIZER_KEY,
        # Services are shared by tests that count the upstream calls their requests make;
        # the reuse tests turn reuse on.
        "REUSE_IMAGES": "false",
        # One worker unless a test is about several: with a lasting store the default is two
        # a core, and each worker's start takes most of a second of CPU.
        "WEB_CONCURRENCY": "1",
    }


@pytest.fixture(scope="session")
def make_service(
    standin_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Service]]:
    """Start a service with extra settings, once a session: make_service(IMAGE_EXPIRATION="2").

    A `label` gives a test a process of its own, for state that must not leak into others.
    """
    running: dict[tuple, Service] = {}

    def make(label: str = "", **settings: str) -> Service:
        key = (label, *sorted(settings.items()))
        if key not in running:
            log_path = tmp_path_factory.mktemp("service") / "service.log"
            env = {**base_env(standin_server.url), **settings}
            with log_path.open("wb") as log:
                server = start_service(env, stdout=log, stderr=log)
            running[key] = Service(server, log_path)
        return running[key]

    try:
        yield make
    finally:
        for service in running.values():
            for client in service.clients.values():
                client.close()
        stop_all(service.server for service in running.values())


@pytest.fixture
def service(make_service: Callable[..., Service]) -> Service:
    """The service with default settings."""
    return make_service()


@pytest.fixture
def client(service: Service) -> openai.OpenAI:
    """The official OpenAI Python SDK, pointed at the default service."""
    return service.client()


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
    if not redis_server.running():
        redis_server.start()
    redis_server.client().flushall()
    return redis_server


@pytest.fixture(scope="session")
def seaweed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def seaweed(seaweed_server: SeaweedServer) -> SeaweedServer:
    """SeaweedFS, running, with its bucket (tests keep apart by the prefix they store under)."""
    if not seaweed_server.running():
        seaweed_server.start()
    return seaweed_server


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, driven by Playwright."""
    # Imported here: only the browser tests need Playwright.
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    since = time.monotonic()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        count_start("Chromium", since)
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


@pytest.fixture(scope="session")
def image_host(standin_server: Server) -> Iterator[ImageHost]:
    """Images on a web server at an address the fetch tests' services take as public."""
    host = ImageHost(loopback_url=f"{standin_server.url}/photo.png")
    try:
        yield host
    finally:
        host.close()


# The servers a session started, summed over xdist's workers: each worker hands its counts to
# the controller when it finishes, and the controller prints them at the end.
def pytest_sessionfinish(session: pytest.Session) -> None:
    output = getattr(session.config, "workeroutput", None)
    if output is not None:  # on a worker
        output["servers_started"] = {kind: (STARTS[kind], STARTUP_SECONDS[kind]) for kind in STARTS}


@pytest.hookimpl(optionalhook=True)  # an xdist hook, on the controller
def pytest_testnodedown(node: Any) -> None:
    started = getattr(node, "workeroutput", {}).get("servers_started", {})
    for kind, (count, seconds) in started.items():
        STARTS[kind] += count
        STARTUP_SECONDS[kind] += seconds


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if STARTS:
        started = ", ".join(
            f"{kind} {count} ({STARTUP_SECONDS[kind]:.0f} s)"
            for kind, count in STARTS.most_common()
        )
        terminalreporter.write_line(f"servers started (seconds until up, in all): {started}")
