"""The nginx configuration docs/deploying.md shows (docs/nginx.conf), run by Debian's nginx in
front of the service, against the same connection attacks.

A well-behaved client must stay served in under 100 ms (`quick`) while 4,000 idle connections
and a slowloris hold nginx, and nothing the attacks send reaches the service's worker.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.service import Service
from tests.helpers import AUTH, FOX, image_url
from tests.servers import free_port, start_nginx

from .conftest import address, closed_within, connections, health_ms, pause, quick, worker

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "docs" / "nginx.conf"
MB = 2**20


def test_the_docs_show_the_configuration_that_is_tested() -> None:
    page = (ROOT / "docs" / "deploying.md").read_text()
    assert f"```nginx\n{CONFIG.read_text()}```" in page


@pytest.fixture
def nginx(service: Service, tmp_path: Path) -> Iterator[str]:
    """docs/nginx.conf in front of `service`, on loopback ports instead of 80 and 8000."""
    port = free_port()
    site = CONFIG.read_text()
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    site = site.replace(
        "server 127.0.0.1:8000;", f"server {':'.join(map(str, address(service.url)))};"
    )
    with start_nginx(tmp_path, site, f"http://127.0.0.1:{port}", "/healthz") as server:
        yield server.url


def test_the_service_answers_through_nginx(nginx: str) -> None:
    answer = requests.post(f"{nginx}/v1/chat/completions", json={"messages": FOX}, headers=AUTH)
    url = image_url(answer.json()["choices"][0]["message"]["content"])
    assert url.startswith(f"{nginx}/image/")  # the links are nginx's, set by nginx
    assert requests.get(url, timeout=5).headers["Content-Type"] == "image/jpeg"
    spoofed = requests.post(
        f"{nginx}/v1/chat/completions",
        json={"messages": FOX},
        headers={**AUTH, "X-Forwarded-Prefix": "/elsewhere", "X-Forwarded-Proto": "https"},
    )
    assert image_url(spoofed.json()["choices"][0]["message"]["content"]).startswith(
        f"{nginx}/image/"
    )
    # The metrics are this machine's: nginx forwards the world, so it gets none.
    metrics = requests.get(f"{nginx}/metrics", timeout=5)
    assert (metrics.status_code, metrics.json()["error"]["code"]) == (403, "metrics_not_public")


@contextlib.contextmanager
def slowloris(url: str, count: int) -> Iterator[None]:
    """`count` clients sending a header line now and then, never finishing."""
    stop = threading.Event()

    def trickle() -> None:
        with connections(url, count, b"GET /healthz HTTP/1.1\r\nHost: x\r\n") as sockets:
            while not stop.wait(0.5):
                for number, sock in enumerate(sockets):
                    with contextlib.suppress(OSError):
                        sock.send(b"X-Slow-%d: y\r\n" % number)

    thread = threading.Thread(target=trickle)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_idle_connections_and_a_slowloris_leave_others_served(nginx: str, service: Service) -> None:
    before = worker(service).memory_info().rss
    with connections(nginx, 4000), slowloris(nginx, 200):
        pause(1, nginx)  # nginx takes the flood in
        probes = [health_ms(nginx) for _ in range(10)]
        answer = requests.post(f"{nginx}/v1/chat/completions", json={"messages": FOX}, headers=AUTH)
        grown = worker(service).memory_info().rss - before
    assert quick(probes), probes
    assert answer.status_code == 200
    assert grown < 20 * MB, f"the worker grew {grown / MB:.0f} MB"


@pytest.mark.untimed  # it waits on nginx's own timer
def test_huge_headers_and_trickled_bodies_never_reach_the_service(
    nginx: str, service: Service
) -> None:
    with connections(
        nginx, 1, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    ) as (big,):
        assert big.recv(4096).split(b" ")[1] in (b"400", b"494")
    chats = service.log().count('"route": "/v1/chat/completions"')
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    with connections(nginx, 1, head + b"{") as (slow,):
        # nginx holds the body until it is whole, and drops the client at client_body_timeout.
        assert closed_within(slow, 12)
    assert service.log().count('"route": "/v1/chat/completions"') == chats  # it saw nothing
