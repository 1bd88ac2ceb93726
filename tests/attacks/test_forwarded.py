"""`X-Forwarded-*` from anyone, and requests with no host, must not decide where links point.

Before: `X-Forwarded-Host: evil.example` linked to http://evil.example/…, `X-Forwarded-Proto:
javascript` gave javascript:// links, and a prefix of `/x)[c](javascript:alert(1))` ended the
image's markdown early; HTTP/1.0 without a Host linked to the bound address (0.0.0.0).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from tests.e2e.service import Service
from tests.helpers import API_KEY, AUTH, FOX, image_url

from .conftest import connections

# Correctness under attack, not speed: it may run beside other tests.
pytestmark = pytest.mark.untimed

HOSTILE = [
    {"X-Forwarded-Host": "evil.example"},
    {"X-Forwarded-Proto": "javascript"},
    {"X-Forwarded-Prefix": "/x)[c](javascript:alert(1))"},
    {"X-Forwarded-Host": "evil.example)[c](javascript:alert(1))"},
    {"Host": "evil.example)[c](javascript:alert(1))"},
]


def link(service: Service, headers: dict[str, str]) -> str:
    response = requests.post(
        f"{service.url}/v1/chat/completions",
        json={"messages": FOX},
        headers={**AUTH, **headers},
        timeout=10,
    )
    assert response.status_code in (200, 400), response.text
    content = response.json()
    if response.status_code == 400:
        return content["error"]["code"]
    return content["choices"][0]["message"]["content"].rsplit("\n", 1)[1]


@pytest.mark.parametrize(
    "headers", HOSTILE, ids=lambda h: f"{next(iter(h))}={h[next(iter(h))][:12]}"
)
def test_an_untrusted_peer_cannot_move_the_links(
    make_service: Callable[..., Service], headers: dict[str, str]
) -> None:
    # The tests connect from 127.0.0.1: here no proxy is trusted at all.
    service = make_service(FORWARDED_ALLOW_IPS="192.0.2.1")
    line = link(service, headers)
    if "Host" in headers:
        assert line == "no_host"  # a Host that is no host name gets a 400, not a link
        return
    assert line.startswith(f"![a red fox]({service.url}/image/")
    assert line.count("](") == 1
    assert line.endswith(")")


@pytest.mark.parametrize("headers", HOSTILE[1:4], ids=["proto", "prefix", "host"])
def test_a_trusted_proxy_is_believed_only_when_well_formed(
    service: Service, headers: dict[str, str]
) -> None:
    line = link(service, headers)  # 127.0.0.1 is trusted by default
    assert line.startswith(f"![a red fox]({service.url}/image/"), line


def test_a_trusted_proxy_moves_the_links(service: Service) -> None:
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "flux.example.com"}
    headers["X-Forwarded-Prefix"] = "/images"
    assert image_url(link(service, headers)).startswith("https://flux.example.com/images/image/")


def test_a_request_with_no_host_gets_a_clear_400_not_a_link_to_nowhere(service: Service) -> None:
    body = b'{"messages": [{"role": "user", "content": "a fox"}]}'
    request = (
        b"POST /v1/chat/completions HTTP/1.0\r\nAuthorization: Bearer %s\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
        % (API_KEY.encode(), len(body))
    ) + body
    with connections(service.url, 1, request) as (sock,):
        sock.settimeout(10)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert b" 400 " in answer.split(b"\r\n", 1)[0]
    assert b"PUBLIC_BASE_URL" in answer
    assert b"0.0.0.0" not in answer


def test_public_base_url_serves_requests_with_no_host(
    make_service: Callable[..., Service],
) -> None:
    service = make_service(PUBLIC_BASE_URL="https://flux.example.org")
    assert image_url(link(service, {"Host": ""})).startswith("https://flux.example.org/image/")
