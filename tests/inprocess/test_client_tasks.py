"""Client tasks (titles, tags, follow-ups, connection checks) get text and draw nothing, while
real image prompts still draw."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask import Flask

from tests.client_requests import CLIENT_TASKS, IMAGE_CHATS, IMAGE_PROMPTS
from tests.helpers import Standin, image_url
from tests.inprocess.api import Api, streamed_text


@pytest.mark.parametrize(
    ("body", "kind", "fragment"),
    [case[1:] for case in CLIENT_TASKS],
    ids=[case[0] for case in CLIENT_TASKS],
)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_client_tasks_get_text_and_draw_nothing(
    api: Api, standin: Standin, body: dict, kind: str, fragment: str, stream: bool
) -> None:
    response = api.post("/v1/chat/completions", {**body, "stream": stream})
    assert response.status_code == 200
    if stream:
        content = streamed_text(response)
    else:
        content = response.get_json()["choices"][0]["message"]["content"]
    assert fragment in content
    assert "![" not in content
    if kind in ("tags", "follow_ups", "queries", "autocomplete", "prompt") or content.startswith(
        "{"
    ):
        json.loads(content)
    assert standin.received() == []


@pytest.mark.parametrize("prompt", IMAGE_PROMPTS)
def test_image_prompts_still_get_images(api: Api, standin: Standin, prompt: str) -> None:
    api.image(image_url(api.answer(prompt)))
    assert len(standin.received()) == 1


@pytest.mark.parametrize("body", IMAGE_CHATS)
def test_image_requests_among_task_words_still_get_images(
    api: Api, standin: Standin, body: dict
) -> None:
    response = api.post("/v1/chat/completions", body)
    assert response.status_code == 200
    api.image(image_url(response.get_json()["choices"][0]["message"]["content"]))
    [drawn] = standin.received()
    asked = body["messages"][-1]["content"].rpartition("</context>\n")[2]  # Open WebUI's RAG
    assert drawn["inputs"]["prompt"] == asked.removesuffix(" 16:9")


def test_client_tasks_can_be_drawn_after_all(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    api = Api(make_app(SKIP_CLIENT_TASKS="false").test_client())
    api.image(image_url(api.answer("hi")))
    assert [seen["inputs"]["prompt"] for seen in standin.received()] == ["hi"]
