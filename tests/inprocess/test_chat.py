"""Chat completions: images of exactly the stated size, the same answer streamed or not, and
the stand-in sent only what each model takes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import AUTH, Standin, image_url
from tests.inprocess.api import Api, events
from tests.pictures import data_uri, encoded, pattern

SCHNELL = "@cf/black-forest-labs/flux-1-schnell"
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"
RATIOS = [
    ("a lighthouse at dusk", 1024, 1024),
    ("a lighthouse at dusk 3:2", 768, 512),
    ("a lighthouse at dusk 16:9", 1024, 576),
    ("a lighthouse at dusk 9:16", 576, 1024),
]


@pytest.mark.parametrize(("prompt", "width", "height"), RATIOS)
def test_chat_answers_with_an_image_of_the_stated_size(
    api: Api, standin: Standin, prompt: str, width: int, height: int
) -> None:
    response = api.chat(prompt, model="flux-1-schnell")
    body = response.get_json()
    content = body["choices"][0]["message"]["content"]
    assert body["model"] == "@cf/black-forest-labs/flux-1-schnell"
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] > 0
    assert f"Image size: {width}x{height}" in content
    image = api.image(image_url(content))
    assert (image.format, image.size) == ("JPEG", (width, height))
    # FLUX.1 schnell is sent its prompt and step count, nothing else.
    (sent,) = standin.received()
    assert sent["content_type"] == "application/json"
    assert sent["inputs"] == {"prompt": "a lighthouse at dusk", "steps": 4}


def test_a_streamed_answer_says_what_the_plain_one_says(api: Api) -> None:
    streamed = api.chat("a lighthouse at dusk 16:9", stream=True)
    assert streamed.headers["Content-Type"].startswith("text/event-stream")
    assert streamed.headers["Cache-Control"] == "no-cache"
    assert streamed.headers["X-Accel-Buffering"] == "no"
    chunks = events(streamed)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(chunk["id"] == chunks[0]["id"] for chunk in chunks)
    assert streamed.get_data(as_text=True).endswith("data: [DONE]\n\n")
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks)
    assert api.image(image_url(text)).size == (1024, 576)

    plain = api.answer("a lighthouse at dusk 16:9")
    # Only the image's key differs between the two answers.
    assert text.replace(image_url(text), "URL") == plain.replace(image_url(plain), "URL")


def test_usage_comes_last_in_a_stream_when_asked(api: Api) -> None:
    response = api.chat("a fox", stream=True, stream_options={"include_usage": True})
    *content_chunks, last = events(response)
    assert last["choices"] == []
    usage = last["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert all(chunk["usage"] is None for chunk in content_chunks)
    assert content_chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_content_parts_and_markers(api: Api, standin: Standin) -> None:
    content = [
        {"type": "text", "text": "a red fox"},
        {"type": "image_url", "image_url": {"url": data_uri(encoded(pattern(64, 64)))}},
        {"type": "text", "text": "in deep snow ---ntl 16:9"},
    ]
    response = api.post(
        "/v1/chat/completions", {"messages": [{"role": "user", "content": content}]}
    )
    text = response.get_json()["choices"][0]["message"]["content"]
    assert api.image(image_url(text)).size == (1024, 576)
    assert standin.received()[0]["inputs"]["prompt"] == "a red fox in deep snow"


def test_each_turn_draws_the_newest_user_message(api: Api, standin: Standin) -> None:
    first = api.answer("a cat")
    conversation = [
        {"role": "user", "content": "a cat"},
        {"role": "assistant", "content": first},
        {"role": "user", "content": "a dog"},
    ]
    assert api.post("/v1/chat/completions", {"messages": conversation}).status_code == 200
    assert [entry["inputs"]["prompt"] for entry in standin.received()] == ["a cat", "a dog"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{this is not json", "not valid JSON"),
        (b"", "empty"),
        (b'{"model": "x"}', "`messages` must be a non-empty list"),
        (b'{"messages": []}', "`messages` must be a non-empty list"),
        (b'{"messages": [{"role": "system", "content": "hi"}]}', "role `user`"),
        (b'{"messages": [{"role": "user", "content": 42}]}', "string or a list of content parts"),
        (b'{"messages": [{"role": "user", "content": "16:9"}]}', "prompt is empty"),
        (b'{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}', "no text part"),
    ],
)
def test_bad_bodies_get_a_400_that_says_why(
    client: FlaskClient, standin: Standin, body: bytes, words: str
) -> None:
    response = client.post(
        "/v1/chat/completions", data=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert words in error["message"]
    assert error["type"] == "invalid_request_error"
    assert standin.received() == []


def test_an_empty_prompt_names_the_messages(api: Api) -> None:
    assert api.chat(" 16:9").get_json()["error"]["param"] == "messages"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_refusal_comes_before_the_stream_starts(api: Api, stream: bool) -> None:
    response = api.chat("x" * 3000, stream=stream)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"


def test_n_choices_each_with_its_own_image(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    api = Api(make_app(MODELS=f"{SCHNELL},{KLEIN}").test_client())
    body = api.chat("a red fox 16:9", model="flux-2-klein-4b", n=3, seed=5).get_json()
    assert [choice["index"] for choice in body["choices"]] == [0, 1, 2]
    links = [image_url(choice["message"]["content"]) for choice in body["choices"]]
    assert len(set(links)) == 3
    assert all(api.image(link).size == (1024, 576) for link in links)
    assert sorted(entry["inputs"]["seed"] for entry in standin.received()) == [5, 6, 7]
    pictures = {api.image(link).tobytes() for link in links}
    assert len(pictures) == 3


def test_n_choices_stream_with_their_indexes(api: Api) -> None:
    response = api.chat("a red fox", n=2, stream=True)
    texts = ["", ""]
    finished = set()
    for chunk in events(response):
        for choice in chunk["choices"]:
            texts[choice["index"]] += choice["delta"].get("content") or ""
            if choice["finish_reason"] == "stop":
                finished.add(choice["index"])
    assert finished == {0, 1}
    assert image_url(texts[0]) != image_url(texts[1])
    assert all(api.image(image_url(text)).size == (1024, 1024) for text in texts)


@pytest.mark.parametrize("n", [0, 5, "2"])
def test_a_bad_n_is_a_400(api: Api, standin: Standin, n: object) -> None:
    response = api.chat("a red fox", n=n)
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "n"
    assert standin.received() == []
