"""HTTP as gunicorn and real sockets see it: `Expect: 100-continue`, compressed bodies, and
images answered with 304, 206 and 416 (zip bombs are with the timed attacks)."""

from __future__ import annotations

import gzip
import json
import socket
import time

import requests

from tests.e2e.service import Service
from tests.helpers import API_KEY, FOX, GZIP_JSON, Standin, image_url

CHAT = json.dumps({"messages": FOX}).encode()


def connect(service: Service) -> socket.socket:
    host, port = service.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def head_of_chat(service: Service, length: int) -> bytes:
    """A chat request's head, announcing `length` bytes of body and waiting for 100 Continue."""
    host = service.url.removeprefix("http://")
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n"
        "Expect: 100-continue\r\nConnection: close\r\n\r\n"
    ).encode()


def read_to_the_end(connection: socket.socket, answer: bytes = b"") -> tuple[bytes, bytes]:
    """The head and body of the answer whose first bytes are `answer`, read until closed."""
    while chunk := connection.recv(65536):
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def test_expect_with_a_body_over_the_limit_is_a_413_before_any_body(
    service: Service, standin: Standin
) -> None:
    with connect(service) as connection:
        started = time.monotonic()
        connection.sendall(head_of_chat(service, 60 * 1024 * 1024))
        # Nothing of the body is ever sent: a server that waited for it would never answer.
        connection.settimeout(5)
        first = connection.recv(65536)
        assert time.monotonic() - started < 5
        assert first.startswith(b"HTTP/1.1 413 "), first[:40]
        head, body = read_to_the_end(connection, first)
    assert b"100 Continue" not in head
    assert b"Connection: close" in head
    error = json.loads(body)["error"]
    assert error["code"] == "request_too_large"
    assert "(MAX_BODY_BYTES, 50 MiB)" in error["message"]
    assert standin.received() == []


def test_expect_within_the_limit_gets_100_continue_then_its_image(
    service: Service, standin: Standin
) -> None:
    with connect(service) as connection:
        connection.sendall(head_of_chat(service, len(CHAT)))
        assert connection.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        connection.sendall(CHAT)
        head, body = read_to_the_end(connection)
    assert head.startswith(b"HTTP/1.1 200 "), head
    url = image_url(json.loads(body)["choices"][0]["message"]["content"])
    assert requests.get(url, timeout=10).headers["Content-Type"] == "image/jpeg"
    assert [entry["inputs"]["prompt"] for entry in standin.received()] == ["a red fox"]


def test_a_gzipped_chat_draws_its_prompt(service: Service, standin: Standin) -> None:
    response = requests.post(
        f"{service.url}/v1/chat/completions",
        data=gzip.compress(CHAT),
        headers=GZIP_JSON,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert [entry["inputs"]["prompt"] for entry in standin.received()] == ["a red fox"]


def test_a_body_in_another_coding_is_a_415(service: Service, standin: Standin) -> None:
    response = requests.post(
        f"{service.url}/v1/chat/completions",
        data=CHAT,
        headers={**GZIP_JSON, "Content-Encoding": "br"},
        timeout=10,
    )
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "unsupported_content_encoding"
    assert "not br" in error["message"]
    assert standin.received() == []


def test_images_answer_304_206_and_416(service: Service) -> None:
    content = service.client().chat.completions.create(model="x", messages=FOX)
    url = image_url(content.choices[0].message.content)
    whole = requests.get(url, timeout=10)
    etag, size = whole.headers["ETag"], len(whole.content)
    assert whole.headers["Accept-Ranges"] == "bytes"

    cached = requests.get(url, headers={"If-None-Match": f'"old", {etag}'}, timeout=10)
    assert (cached.status_code, cached.content) == (304, b"")
    assert cached.headers["ETag"] == etag
    assert requests.head(url, headers={"If-None-Match": "*"}, timeout=10).status_code == 304

    tail = requests.get(url, headers={"Range": "bytes=-100", "If-Range": etag}, timeout=10)
    assert tail.status_code == 206
    assert tail.content == whole.content[-100:]
    assert tail.headers["Content-Range"] == f"bytes {size - 100}-{size - 1}/{size}"

    past = requests.get(url, headers={"Range": f"bytes={size}-"}, timeout=10)
    assert past.status_code == 416
    assert past.headers["Content-Range"] == f"bytes */{size}"
    assert past.json()["error"]["code"] == "range_not_satisfiable"
