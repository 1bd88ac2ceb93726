"""Bad input gets a clear 4xx in the OpenAI shape, every time, and costs no picture; unusual
but legitimate prompts still get theirs."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import openai
import pytest
import requests

from tests.conftest import API_KEY, Service, Standin, fetch_picture, image_url

AUTH = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
MIB = 1024 * 1024


def post(service: Service, path: str, data: bytes | Iterator[bytes]) -> requests.Response:
    return requests.post(f"{service.url}{path}", data=data, headers=AUTH, timeout=30)


def assert_refused(response: requests.Response, status: int, words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert words in error["message"]
    assert error["type"] == "invalid_request_error"
    return error


def _json(body: object) -> bytes:
    return json.dumps(body).encode()


def chat_body(content: str, **fields: object) -> bytes:
    return _json({"messages": [{"role": "user", "content": content}], **fields})


def test_a_body_over_max_body_bytes_is_a_413(service: Service, standin: Standin) -> None:
    big = chat_body("a fox " + "x" * MIB)
    error = assert_refused(post(service, "/v1/chat/completions", big), 413, "too large")
    assert error["code"] == "request_too_large"
    # Without a Content-Length, the limit holds as the chunks arrive.
    chunks = (b"x" * 65536 for _ in range(32))
    assert_refused(post(service, "/v1/images/generations", chunks), 413, "too large")
    assert standin.received() == []


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
        (b'{"messages": [{"role": "user", "content": "\xff\xfe a fox"}]}', "UTF-8"),
        (b'{"messages": [{"role": "user", "content": "a fox"}], "seed": 1' + b"0" * 9000 + b"}",
         "number too long"),
        (b'{"messages": [{"role": "user", "content": "a fox"}]' + b" " * 500_000, "not valid JSON"),
        (b"\x00" * 1000, "not valid JSON"),
    ],
    ids=["deep", "not-utf8", "long-number", "unclosed", "nul-bytes"],
)  # fmt: skip
def test_unreadable_bodies_are_a_400(
    service: Service, standin: Standin, data: bytes, words: str
) -> None:
    assert_refused(post(service, "/v1/chat/completions", data), 400, words)
    assert standin.received() == []


def test_a_huge_but_valid_conversation_is_answered(service: Service, standin: Standin) -> None:
    history = [{"role": "assistant", "content": "ok " * 10}] * 15_000
    body = {"messages": [*history, {"role": "user", "content": "a red fox 16:9"}]}
    data = json.dumps(body).encode()
    assert 0.5 * MIB < len(data) < MIB
    response = post(service, "/v1/chat/completions", data)
    assert response.status_code == 200
    _, picture = fetch_picture(image_url(response.json()["choices"][0]["message"]["content"]))
    assert picture.size == (1024, 576)


@pytest.mark.parametrize(
    ("content", "model", "words"),
    [
        ("x" * 100_000, "flux-1-schnell", "has 100000 characters; flux-1-schnell takes at"),
        ("x" * 100_000, "flux-2-klein-4b", "takes at most 10000"),
        (" \n\t  ", "flux-1-schnell", "empty"),
        ("16:9", "flux-1-schnell", "empty"),
        ("  1280x720 ", "flux-1-schnell", "empty"),
        ("\x00\x01\x07", "flux-1-schnell", "empty"),
    ],
    ids=["100k-schnell", "100k-klein", "whitespace", "only-ratio", "only-size", "only-control"],
)  # fmt: skip
def test_unusable_prompts_are_a_400(
    service: Service, standin: Standin, content: str, model: str, words: str
) -> None:
    for path, data in (
        ("/v1/chat/completions", chat_body(content, model=model)),
        ("/v1/chat/completions", chat_body(content, model=model, stream=True)),
        ("/v1/images/generations", _json({"prompt": content, "model": model})),
    ):
        assert_refused(post(service, path, data), 400, words)
    assert standin.received() == []


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 0}, "n"), ({"n": 5}, "n"), ({"n": "2"}, "n"), ({"n": 1.5}, "n"), ({"n": True}, "n"),
        ({"size": "big"}, "size"), ({"size": "99999x1"}, "size"), ({"size": "10x10"}, "size"),
        ({"size": ["1024x1024"]}, "size"), ({"seed": -1}, "seed"), ({"seed": 2**32}, "seed"),
        ({"seed": "42"}, "seed"), ({"seed": 1e300}, "seed"), ({"response_format": "jpeg"},
        "response_format"), ({"output_format": "gif"}, "output_format"), ({"prompt": ["x"]},
        "prompt"), ({"model": {"id": "x"}}, "model"),
    ],
)  # fmt: skip
def test_bad_images_fields_are_a_400_naming_them(
    service: Service, standin: Standin, fields: dict, param: str
) -> None:
    data = _json({"prompt": "a fox", **fields})
    error = assert_refused(post(service, "/v1/images/generations", data), 400, f"`{param}`")
    assert error["param"] == param
    assert standin.received() == []


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"stream": "true"}, "stream"), ({"stream": 1}, "stream"), ({"seed": -5}, "seed"),
        ({"seed": 4.5}, "seed"), ({"seed": 2**40}, "seed"), ({"stream_options": "usage"},
        "stream_options"), ({"model": 12}, "model"),
    ],
)  # fmt: skip
def test_bad_chat_fields_are_a_400_naming_them(
    service: Service, standin: Standin, fields: dict, param: str
) -> None:
    data = chat_body("a fox", **fields)
    error = assert_refused(post(service, "/v1/chat/completions", data), 400, f"`{param}`")
    assert error["param"] == param
    assert standin.received() == []


def raw_get(service: Service, target: bytes) -> tuple[int, bytes]:
    """GET `target` exactly as written, with no client tidying the path first."""
    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_path_tricks_on_pictures_find_nothing(service: Service, standin: Standin) -> None:
    content = service.client().chat.completions.create(
        model="x", messages=[{"role": "user", "content": "a fox"}]
    )
    url = image_url(content.choices[0].message.content)
    key = url.rsplit("/", 1)[1].encode()
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


@pytest.mark.parametrize(
    ("content", "sent"),
    [
        ("🦊 a fox in the snow ❄️ 16:9", "🦊 a fox in the snow ❄️"),
        ("ثعلب أحمر في الثلج 16:9", "ثعلب أحمر في الثلج"),
        ("שועל אדום בשלג 16:9", "שועל אדום בשלג"),
        ("a red\x00 fox\x07 in\x1b the\u200b snow\x7f 16:9", "a red fox in the\u200b snow"),
        ("👨‍👩‍👧 family of foxes 16:9", "👨‍👩‍👧 family of foxes"),
    ],
    ids=["emoji", "arabic", "hebrew", "control", "zwj-emoji"],
)
def test_unusual_prompts_get_their_pictures(
    client: openai.OpenAI, standin: Standin, content: str, sent: str
) -> None:
    answer = client.chat.completions.create(
        model="x", messages=[{"role": "user", "content": content}]
    )
    (drawn,) = standin.received()
    assert drawn["inputs"]["prompt"] == sent
    _, picture = fetch_picture(image_url(answer.choices[0].message.content))
    assert picture.size == (1024, 576)


def test_a_lone_surrogate_is_dropped(service: Service, standin: Standin) -> None:
    # Legal as a JSON escape, though no encoder would send it; it cannot go on as UTF-8.
    body = b'{"messages": [{"role": "user", "content": "a fox\\ud800 in the snow"}], "stream": '
    plain = post(service, "/v1/chat/completions", body + b"false}")
    assert plain.status_code == 200
    fetch_picture(image_url(plain.json()["choices"][0]["message"]["content"]))
    streamed = post(service, "/v1/chat/completions", body + b"true}")
    assert streamed.status_code == 200
    assert "/image/" in streamed.text and '"error"' not in streamed.text
    assert [seen["inputs"]["prompt"] for seen in standin.received()] == ["a fox in the snow"] * 2
