"""Chat apps' housekeeping through gunicorn: every app's task gets its text and nothing is
drawn, and Open WebUI's image toggle draws once, at the ratio the user asked for."""

from __future__ import annotations

import json

import openai

from tests.client_requests import CLIENT_TASKS, OPEN_WEBUI_CREATED
from tests.helpers import Standin, decode


def content_of(client: openai.OpenAI, body: dict) -> str:
    """The answer's text, streamed or not as the body asks."""
    answer = client.chat.completions.create(**body)
    if not body.get("stream"):
        return answer.choices[0].message.content
    return "".join(chunk.choices[0].delta.content or "" for chunk in answer if chunk.choices)


def test_every_clients_task_gets_its_text_and_nothing_is_drawn(
    client: openai.OpenAI, standin: Standin
) -> None:
    for name, body, kind, fragment in CLIENT_TASKS:
        content = content_of(client, body)
        assert fragment in content, name
        assert "![" not in content, name
        if kind != "check" and content.startswith("{"):
            json.loads(content)
    assert standin.received() == []


def test_open_webuis_image_toggle_draws_once_at_the_ratio_asked_for(
    client: openai.OpenAI, standin: Standin
) -> None:
    # 1. Its task model writes the prompt: the ratio token stays on it.
    _, task, _, _ = next(case for case in CLIENT_TASKS if case[0] == "open-webui image prompt")
    prompt = json.loads(content_of(client, task))["prompt"]
    assert prompt == "a fox at dawn 16:9"
    assert standin.received() == []
    # 2. Its image engine draws it (as it does with the image size setting left empty).
    image = client.images.generate(
        model="flux-1-schnell", prompt=prompt, response_format="b64_json"
    )
    assert decode(image.data[0].b64_json).size == (1024, 576)
    # 3. The chat model hears that the image is shown, and answers in words.
    said = content_of(
        client,
        {
            "model": "flux-1-schnell",
            "messages": [
                {"role": "system", "content": OPEN_WEBUI_CREATED},
                {"role": "user", "content": "a fox at dawn 16:9"},
            ],
        },
    )
    assert said == "🎨 The image is ready and shown in this chat."
    [drawn] = standin.received()
    assert drawn["inputs"]["prompt"] == "a fox at dawn"
