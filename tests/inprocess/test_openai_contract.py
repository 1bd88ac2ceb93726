"""Every answer the service gives, held to OpenAI's own published schemas of it
(tests/openai_schemas.py): chat completions and their chunks, models, the Images API plain
and streamed (generations and edits), the Responses API and each of its events, and errors.
A client built from that document (its generated SDKs, gateways that validate) reads them
all."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from werkzeug.datastructures import FileStorage, MultiDict

from tests.client_requests import CLIENT_TASKS
from tests.helpers import AUTH, Standin
from tests.inprocess.api import Api, events, user
from tests.inprocess.test_edits import post_form
from tests.openai_schemas import check
from tests.pictures import data_uri, encoded, pattern

PHOTO = encoded(pattern(600, 400))
FAILURE = {"kind": "success_false", "code": 3043}


def chunks(response: object) -> list[dict]:
    """A chat stream's chunks; every other event (an error) as it came."""
    sent = events(response)
    assert sent, "no events"
    return sent


@pytest.mark.parametrize("fields", [{}, {"n": 2, "seed": 7, "model": "flux-2-klein-4b"}])
def test_chat_completions(api: Api, fields: dict) -> None:
    answer = api.chat("a red fox 16:9", **fields)
    assert answer.status_code == 200
    check("CreateChatCompletionResponse", answer.get_json())


@pytest.mark.parametrize("fields", [{}, {"n": 2, "stream_options": {"include_usage": True}}])
def test_chat_completion_chunks(api: Api, fields: dict) -> None:
    answer = api.chat("a red fox", stream=True, **fields)
    for chunk in chunks(answer):
        check("CreateChatCompletionStreamResponse", chunk)


def test_a_failed_chat_stream_ends_with_chunks_and_an_error(api: Api, standin: Standin) -> None:
    standin.fail(FAILURE)
    sent = chunks(api.chat("a red fox", stream=True))
    *content, error = sent
    assert error["error"]["code"] == "upstream_error"
    check("ErrorResponse", error)
    for chunk in content:
        check("CreateChatCompletionStreamResponse", chunk)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_client_task_answers(api: Api, stream: bool) -> None:
    _, body, _, _ = next(case for case in CLIENT_TASKS if case[0] == "librechat title")
    answer = api.post("/v1/chat/completions", {**body, "stream": stream})
    if stream:
        for chunk in chunks(answer):
            check("CreateChatCompletionStreamResponse", chunk)
    else:
        check("CreateChatCompletionResponse", answer.get_json())


def test_models(api: Api) -> None:
    check("ListModelsResponse", api.client.get("/v1/models", headers=AUTH).get_json())
    check("Model", api.client.get("/v1/models/flux-2-klein-4b", headers=AUTH).get_json())


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"response_format": "url", "n": 2},
        {"size": "512x768", "output_format": "png", "quality": "low"},
        {"size": "1280x720", "model": "flux-2-klein-4b", "seed": 3, "output_format": "webp"},
    ],
    ids=["base64", "urls", "png", "webp"],
)
def test_images(api: Api, fields: dict) -> None:
    answer = api.images(prompt="a red fox", **fields)
    assert answer.status_code == 200
    check("ImagesResponse", answer.get_json())


def test_image_edits(api: Api) -> None:
    fields = MultiDict({"prompt": "make it night", "model": "flux-2-klein-4b", "n": "2"})
    fields.add("image", FileStorage(io.BytesIO(PHOTO), "a.png"))
    answer = post_form(api, fields)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["size"] == "1024x683"  # the truth, which the document's three sizes lack
    check("ImagesResponse", body)


def test_image_streams(api: Api) -> None:
    generated = events(api.images(prompt="a red fox", n=2, stream=True))
    assert len(generated) == 2
    for event in generated:
        check("ImageGenStreamEvent", event)
    fields = MultiDict({"prompt": "make it night", "model": "flux-2-klein-4b", "stream": "true"})
    fields.add("image", FileStorage(io.BytesIO(PHOTO), "a.png"))
    (edited,) = events(post_form(api, fields))
    check("ImageEditStreamEvent", edited)


def test_a_failed_image_stream_ends_with_an_error(api: Api, standin: Standin) -> None:
    standin.fail(FAILURE)
    (error,) = events(api.images(prompt="a red fox", stream=True))
    check("ErrorResponse", error)


EDIT = [
    {
        "role": "user",
        "content": [
            {"type": "input_text", "text": "make it night"},
            {"type": "input_image", "image_url": data_uri(PHOTO)},
        ],
    }
]


@pytest.mark.parametrize("given", ["a red fox 16:9", EDIT, "hi"], ids=["drawn", "edit", "check"])
def test_responses(api: Api, given: object) -> None:
    answer = api.post("/v1/responses", {"input": given, "model": "flux-2-klein-4b"})
    assert answer.status_code == 200
    check("Response", answer.get_json())


@pytest.mark.parametrize("given", ["a red fox", EDIT, "hi"], ids=["drawn", "edit", "check"])
def test_responses_events(api: Api, given: object) -> None:
    answer = api.post("/v1/responses", {"input": given, "model": "flux-2-klein-4b", "stream": True})
    sent = events(answer)
    assert sent[-1]["type"] == "response.completed"
    for event in sent:
        check("ResponseStreamEvent", event)


def test_a_failed_responses_stream_ends_with_an_error_event(api: Api, standin: Standin) -> None:
    standin.fail(FAILURE)
    sent = events(api.post("/v1/responses", {"input": "a red fox", "stream": True}))
    assert sent[-1]["type"] == "error"
    for event in sent:
        check("ResponseStreamEvent", event)
    assert [event["sequence_number"] for event in sent] == list(range(len(sent)))


def test_errors(make_app: Flask, api: Api) -> None:
    client = api.client
    refused = [
        api.post("/v1/chat/completions", {"messages": []}),
        api.post("/v1/chat/completions", {"messages": user("a fox")}, key="sk-wrong-0123456789"),
        client.post("/v1/chat/completions", json={"messages": user("a fox")}),
        client.get("/v1/nothing-here", headers=AUTH),
        client.get("/v1/models/no-such-model", headers=AUTH),
        client.delete("/v1/chat/completions", headers=AUTH),
        api.images(prompt="a fox", size="2x2"),
        api.post("/v1/responses", {"input": 7}),
        client.get("/image/" + "A" * 32),
    ]
    assert [answer.status_code for answer in refused] == [
        400,
        401,
        401,
        404,
        404,
        405,
        400,
        400,
        404,
    ]
    limited = Api(make_app(RATE_LIMIT="1/minute").test_client())
    limited.chat("a fox")
    refused.append(limited.chat("a fox"))
    assert refused[-1].status_code == 429
    for answer in refused:
        check("ErrorResponse", answer.get_json())
