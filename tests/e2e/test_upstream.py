"""Upstream failures become honest errors, and the next request works."""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest

from tests.conftest import Service, Standin, fetch_picture, image_url

FOX = [{"role": "user", "content": "a red fox"}]


def assert_next_request_works(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model="x", messages=FOX)
    fetch_picture(image_url(answer.choices[0].message.content))


@pytest.mark.parametrize(
    ("fault", "status", "words"),
    [
        ({"kind": "error", "status": 500, "code": 3043, "message": "Internal"}, 502, "HTTP 500"),
        ({"kind": "garbage", "status": 502}, 502, "HTTP 502"),
        ({"kind": "success_false", "code": 3043}, 502, "success: false"),
        ({"kind": "bad_base64"}, 502, "not valid base64"),
        ({"kind": "not_image"}, 502, "unusable picture"),
        ({"kind": "truncated"}, 502, "truncated"),
        ({"kind": "empty"}, 502, "without a picture"),
        ({"kind": "reset"}, 502, "Could not reach Workers AI"),
        ({"kind": "cut"}, 502, "answer was cut off"),
    ],
)
def test_upstream_failures_are_502_with_a_message(
    client: openai.OpenAI, standin: Standin, fault: dict, status: int, words: str
) -> None:
    standin.fail(fault)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="x", messages=FOX)
    assert caught.value.status_code == status
    assert words in caught.value.message
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert_next_request_works(client)


def test_a_slow_upstream_is_a_504(make_service: Callable[..., Service], standin: Standin) -> None:
    client = make_service(UPSTREAM_TIMEOUT="1").client()
    standin.fail({"kind": "hang", "seconds": 5})
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="x", messages=FOX)
    assert caught.value.status_code == 504
    assert "did not answer within 1 s" in caught.value.message
    assert_next_request_works(client)


def test_a_failure_mid_stream_is_shown_then_raised(client: openai.OpenAI, standin: Standin) -> None:
    standin.fail({"kind": "error", "status": 500, "code": 3043, "message": "Internal"})
    shown = []
    with pytest.raises(openai.APIError, match="Workers AI failed"):
        for chunk in client.chat.completions.create(model="x", messages=FOX, stream=True):
            shown.append(chunk.choices[0].delta.content or "")
    text = "".join(shown)
    assert "Original prompt: a red fox" in text
    assert "❌ Image generation failed: Workers AI failed (HTTP 500, code 3043)." in text
    assert_next_request_works(client)


def test_capacity_errors_say_when_to_come_back(client: openai.OpenAI, standin: Standin) -> None:
    standin.fail({"kind": "error", "status": 429, "code": 3040, "message": "Capacity"})
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="x", messages=FOX)
    assert caught.value.status_code == 503
    assert caught.value.response.headers["Retry-After"] == "10"
