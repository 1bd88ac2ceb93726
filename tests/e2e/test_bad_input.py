"""What only a real server shows about bad input: bodies sent in chunks, and request targets
exactly as written, with no client tidying the path first."""

from __future__ import annotations

import json
import socket

import requests

from tests.e2e.service import Service
from tests.helpers import AUTH, FOX, Standin, image_url


def test_a_chunked_body_over_max_body_bytes_is_a_413(service: Service, standin: Standin) -> None:
    # Without a Content-Length, the limit (50 MiB) holds as the chunks arrive.
    chunks = (b"x" * 65536 for _ in range(51 * 16))
    response = requests.post(
        f"{service.url}/v1/images/generations", data=chunks, headers=AUTH, timeout=30
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "request_too_large"
    assert "(MAX_BODY_BYTES, 50 MiB)" in error["message"]
    assert standin.received() == []


def test_an_80_mb_chat_is_refused_before_it_is_read(service: Service, standin: Standin) -> None:
    photo = "data:image/jpeg;base64," + "A" * 80_000_000
    body = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": photo}}]}
        ]
    }
    response = requests.post(
        f"{service.url}/v1/chat/completions", json=body, headers=AUTH, timeout=30
    )
    assert response.status_code == 413
    assert "(MAX_BODY_BYTES, 50 MiB)" in response.json()["error"]["message"]
    assert standin.received() == []
    assert service.client().chat.completions.create(model="x", messages=FOX).choices


def raw_get(service: Service, target: bytes) -> tuple[int, bytes]:
    """GET `target` exactly as written."""
    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_path_tricks_on_images_find_nothing(service: Service) -> None:
    content = service.client().chat.completions.create(model="x", messages=FOX)
    key = image_url(content.choices[0].message.content).rsplit("/", 1)[1].encode()
    assert raw_get(service, b"/image/" + key)[0] == 200
    for target in (
        b"/image/../healthz",
        b"/image/%2e%2e/%2e%2e/etc/passwd",
        b"/image/..%2f..%2fopenapi.json",
        b"/image//etc/passwd",
        b"/image/" + key + b"/..",
        b"/image/" + key + b"%00",
        b"/image/" + key + b"%2f",
        b"/image/" + key[:-1],
        b"/image/" + key.upper(),
        b"/image/%F0%9F%A6%8A",
        b"/image/" + b"A" * 2000,
        b"/image/",
    ):
        status, body = raw_get(service, target)
        assert status == 404, target
        assert b'"error"' in body, target


def test_an_unknown_route_under_v1_is_named_and_a_wrong_method_is_a_405(
    service: Service, standin: Standin
) -> None:
    response = requests.post(
        f"{service.url}/v1/audio/speech", json={"input": "hi"}, headers=AUTH, timeout=5
    )
    assert response.status_code == 404
    assert response.json()["error"] == {
        "message": "This service does not offer POST /v1/audio/speech.",
        "type": "invalid_request_error",
        "param": None,
        "code": "unknown_route",
    }
    # The path as written, control characters and all, comes back shown and bounded.
    status, body = raw_get(service, b"/v1/a%0Ab%1B[31m" + b"x" * 3000)
    assert status == 404
    message = json.loads(body)["error"]["message"]
    assert message.startswith("This service does not offer GET /v1/a%0Ab%1B[31mxxx")
    assert message.endswith("x….")
    assert len(message) < 300
    outside = requests.get(f"{service.url}/api/tags", headers=AUTH, timeout=5).json()["error"]
    assert (
        outside["message"] == "This service does not offer GET /api/tags. The API lives under /v1."
    )
    wrong = requests.get(f"{service.url}/v1/chat/completions", headers=AUTH, timeout=5)
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "method_not_allowed")
    assert "POST" in wrong.headers["Allow"]
    assert standin.received() == []
