"""Bad input gets a clear 4xx in the OpenAI shape, every time, and costs no image; unusual but
legitimate prompts still get theirs."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.helpers import AUTH, Standin, image_url
from tests.inprocess.api import Api

MIB = 1024 * 1024
JSON = {**AUTH, "Content-Type": "application/json"}


def post(client: FlaskClient, path: str, data: bytes) -> TestResponse:
    return client.post(path, data=data, headers=JSON)


def assert_refused(response: TestResponse, status: int, words: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json"
    error = response.get_json()["error"]
    assert words in error["message"]
    assert error["type"] == "invalid_request_error"
    return error


def chat_body(content: str, **fields: object) -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": content}], **fields}).encode()


def test_a_body_over_max_body_bytes_is_a_413(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    client = make_app(MAX_BODY_BYTES=str(MIB)).test_client()
    big = chat_body("a fox " + "x" * MIB)
    error = assert_refused(
        post(client, "/v1/chat/completions", big), 413, "(MAX_BODY_BYTES, 1 MiB)"
    )
    assert error["code"] == "request_too_large"
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
        (b"[1, 2]", "must be a JSON object"),
    ],
    ids=["deep", "not-utf8", "long-number", "unclosed", "nul-bytes", "not-an-object"],
)  # fmt: skip
def test_unreadable_bodies_are_a_400(
    client: FlaskClient, standin: Standin, data: bytes, words: str
) -> None:
    for path in ("/v1/chat/completions", "/v1/images/generations"):
        assert_refused(post(client, path, data), 400, words)
    assert standin.received() == []


def test_a_huge_but_valid_conversation_is_answered(api: Api) -> None:
    history = [{"role": "assistant", "content": "ok " * 10}] * 15_000
    body = {"messages": [*history, {"role": "user", "content": "a red fox 16:9"}]}
    data = json.dumps(body).encode()
    assert 0.5 * MIB < len(data) < MIB
    response = post(api.client, "/v1/chat/completions", data)
    assert response.status_code == 200
    assert api.image(image_url(response.get_json()["choices"][0]["message"]["content"])).size == (
        1024,
        576,
    )


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
    client: FlaskClient, standin: Standin, content: str, model: str, words: str
) -> None:
    for path, data in (
        ("/v1/chat/completions", chat_body(content, model=model)),
        ("/v1/chat/completions", chat_body(content, model=model, stream=True)),
        ("/v1/images/generations", json.dumps({"prompt": content, "model": model}).encode()),
    ):
        assert_refused(post(client, path, data), 400, words)
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
    client: FlaskClient, standin: Standin, fields: dict, param: str
) -> None:
    error = assert_refused(
        post(client, "/v1/chat/completions", chat_body("a fox", **fields)), 400, f"`{param}`"
    )
    assert error["param"] == param
    assert standin.received() == []


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
def test_unusual_prompts_get_their_images(
    api: Api, standin: Standin, content: str, sent: str
) -> None:
    answer = api.answer(content)
    (drawn,) = standin.received()
    assert drawn["inputs"]["prompt"] == sent
    assert api.image(image_url(answer)).size == (1024, 576)


def test_a_lone_surrogate_is_dropped(api: Api, standin: Standin) -> None:
    # Legal as a JSON escape, though no encoder would send it; it cannot go on as UTF-8.
    body = b'{"messages": [{"role": "user", "content": "a fox\\ud800 in the snow"}], "stream": '
    plain = post(api.client, "/v1/chat/completions", body + b"false}")
    assert plain.status_code == 200
    api.image(image_url(plain.get_json()["choices"][0]["message"]["content"]))
    streamed = post(api.client, "/v1/chat/completions", body + b"true}")
    assert streamed.status_code == 200
    text = streamed.get_data(as_text=True)
    assert "/image/" in text
    assert '"error"' not in text
    assert [seen["inputs"]["prompt"] for seen in standin.received()] == ["a fox in the snow"] * 2
