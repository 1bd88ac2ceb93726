"""Upstream failures become honest errors, and the next request works."""

from __future__ import annotations

import time
from collections.abc import Callable

import openai
import pytest

from tests.conftest import Service, Standin, fetch_picture, image_url

FOX = [{"role": "user", "content": "a red fox"}]


def assert_next_request_works(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model="x", messages=FOX)
    fetch_picture(image_url(answer.choices[0].message.content))


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ({"kind": "success_false", "code": 3043}, "success: false"),
        ({"kind": "bad_base64"}, "not valid base64"),
        ({"kind": "not_image"}, "unusable picture"),
        ({"kind": "truncated"}, "truncated"),
        ({"kind": "empty"}, "without a picture"),
        ({"kind": "garbage", "status": 200}, "HTTP 200"),
    ],
)
def test_nonsense_from_upstream_is_a_502_at_once(
    client: openai.OpenAI, standin: Standin, fault: dict, words: str
) -> None:
    standin.fail(fault)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="x", messages=FOX)
    assert caught.value.status_code == 502
    assert words in caught.value.message
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(standin.received()) == 1  # nonsense is not asked for twice
    assert_next_request_works(client)


PASSING = [
    {"kind": "error", "status": 500, "code": 3043, "message": "Internal"},
    {"kind": "error", "status": 503, "code": 3043, "message": "Unavailable"},
    {"kind": "error", "status": 429, "code": 3040, "message": "Capacity temporarily exceeded"},
    {"kind": "garbage", "status": 502},
    {"kind": "reset"},
    {"kind": "cut"},
]


@pytest.mark.parametrize("fault", PASSING, ids=lambda f: f"{f['kind']}-{f.get('status', '')}")
def test_passing_failures_are_tried_again(
    client: openai.OpenAI, standin: Standin, fault: dict
) -> None:
    standin.fail(fault, fault)
    content = client.chat.completions.create(model="x", messages=FOX).choices[0].message.content
    fetch_picture(image_url(content))
    assert len(standin.received()) == 3


@pytest.mark.parametrize(
    ("fault", "status", "words"),
    [
        (PASSING[0], 502, "HTTP 500"),
        (PASSING[2], 503, "out of capacity"),
        (PASSING[3], 502, "HTTP 502"),
        (PASSING[4], 502, "Could not reach Workers AI"),
        (PASSING[5], 502, "answer was cut off"),
    ],
    ids=["500", "3040", "html-502", "reset", "cut"],
)
def test_retries_stop_at_upstream_timeout(
    make_service: Callable[..., Service], standin: Standin, fault: dict, status: int, words: str
) -> None:
    client = make_service(UPSTREAM_TIMEOUT="2").client()
    standin.fail(*[fault] * 40)
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="x", messages=FOX)
    assert time.monotonic() - started < 3
    assert caught.value.status_code == status
    assert words in caught.value.message
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert 2 <= len(standin.received()) < 40


def test_a_refused_input_is_never_tried_again(client: openai.OpenAI, standin: Standin) -> None:
    standin.fail({"kind": "error", "status": 400, "code": 5006, "message": "AiError: Bad input"})
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="x", messages=FOX)
    assert len(standin.received()) == 1


def test_a_slow_upstream_is_a_504(make_service: Callable[..., Service], standin: Standin) -> None:
    client = make_service(UPSTREAM_TIMEOUT="1").client()
    standin.fail({"kind": "hang", "seconds": 5})
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="x", messages=FOX)
    assert caught.value.status_code == 504
    assert "did not answer within 1 s" in caught.value.message
    assert_next_request_works(client)


def test_a_failure_mid_stream_is_shown_then_raised(client: openai.OpenAI, standin: Standin) -> None:
    standin.fail({"kind": "success_false", "code": 3043})
    shown = []
    with pytest.raises(openai.APIError, match="Workers AI failed"):
        for chunk in client.chat.completions.create(model="x", messages=FOX, stream=True):
            shown.append(chunk.choices[0].delta.content or "")
    text = "".join(shown)
    assert "Original prompt: a red fox" in text
    assert (
        "❌ Image generation failed: Workers AI failed (HTTP 200 with success: false, code 3043)."
        in text
    )
    assert_next_request_works(client)


def test_capacity_errors_say_when_to_come_back(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    client = make_service(UPSTREAM_TIMEOUT="1").client()
    standin.fail(*[{"kind": "error", "status": 429, "code": 3040, "message": "Capacity"}] * 40)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="x", messages=FOX)
    assert caught.value.status_code == 503
    assert caught.value.response.headers["Retry-After"] == "10"
