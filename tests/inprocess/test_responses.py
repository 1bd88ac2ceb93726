"""The Responses API: a picture as an image generation call, the chat's markdown as a
message, the event sequence of a stream, and the input read as a chat conversation."""

from __future__ import annotations

import pytest

from tests.helpers import Standin, decode, image_url
from tests.inprocess.api import Api, events
from tests.pictures import data_uri, encoded, pattern


def test_a_string_input_draws_and_answers_with_both_items(api: Api, standin: Standin) -> None:
    response = api.post("/v1/responses", {"model": "gpt-4.1", "input": "a red fox 16:9"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["object"], body["status"]) == ("response", "completed")
    assert body["id"].startswith("resp_")
    call, message = body["output"]
    assert (call["type"], call["status"], call["size"]) == (
        "image_generation_call",
        "completed",
        "1024x576",
    )
    assert decode(call["result"]).size == (1024, 576)
    assert call["revised_prompt"] == "a red fox"
    assert call["action"] == "generate"
    (part,) = message["content"]
    assert (message["role"], part["type"]) == ("assistant", "output_text")
    assert "Image size: 1024x576" in part["text"]
    assert api.image(image_url(part["text"])).size == (1024, 576)
    assert body["usage"]["total_tokens"] > 0
    (sent,) = standin.received()
    assert sent["inputs"]["prompt"] == "a red fox"


def test_the_image_tool_chooses_size_format_and_quality(api: Api, standin: Standin) -> None:
    tool = {"type": "image_generation", "size": "512x768", "output_format": "png", "quality": "low"}
    body = api.post("/v1/responses", {"input": "a red fox", "tools": [tool]}).get_json()
    call = body["output"][0]
    image = decode(call["result"])
    assert (image.format, image.size) == ("PNG", (512, 768))
    assert (call["output_format"], call["quality"]) == ("png", "low")
    assert standin.received()[0]["inputs"]["steps"] == 2


def test_message_items_with_an_input_image_edit_it(api: Api, standin: Standin) -> None:
    picture = data_uri(encoded(pattern(600, 400)))
    conversation = [
        {"role": "user", "content": "a boat"},
        {"type": "image_generation_call", "id": "ig_1", "status": "completed", "result": "x"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Here it is."}]},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "make it night"},
                {"type": "input_image", "image_url": picture},
            ],
        },
    ]
    body = api.post("/v1/responses", {"input": conversation}).get_json()
    call = body["output"][0]
    assert decode(call["result"]).size == (1024, 683)
    assert call["action"] == "edit"  # drawn from the picture, as the answer says
    (sent,) = standin.received()
    assert sent["inputs"]["prompt"] == "make it night"
    assert len(sent["images"]) == 1


def test_a_stream_sends_the_responses_events_in_order(api: Api, standin: Standin) -> None:
    response = api.post("/v1/responses", {"input": "a red fox", "stream": True})
    assert response.mimetype == "text/event-stream"
    sent = events(response)
    assert [event["type"] for event in sent] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.image_generation_call.in_progress",
        "response.image_generation_call.generating",
        "response.image_generation_call.completed",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event["sequence_number"] for event in sent] == list(range(len(sent)))
    final = sent[-1]["response"]
    assert decode(final["output"][0]["result"]).size == (1024, 1024)
    assert final["output"][1]["content"][0]["text"] == sent[9]["delta"]
    assert len(standin.received()) == 1


def test_a_client_task_answers_with_a_message_only(api: Api, standin: Standin) -> None:
    task = "### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat."
    body = api.post("/v1/responses", {"input": task}).get_json()
    (message,) = body["output"]
    assert message["type"] == "message"
    assert standin.received() == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "input"),
        ({"input": 7}, "input"),
        ({"input": ["x"]}, "input[0]"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0]"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image"}]}]},
            "input[0].content[0]",
        ),
        ({"input": "a fox", "tools": "image_generation"}, "tools"),
        ({"input": "a fox", "tools": [{"type": "image_generation", "size": "big"}]}, "size"),
        ({"input": "a fox", "tools": [{"type": "image_generation", "quality": "AAA"}]}, "tools"),
        ({"input": "a fox", "tools": [{"type": {}}]}, "tools"),
        (
            {"input": "a fox", "tools": [{"type": "image_generation", "output_format": 1}]},
            "output_format",
        ),
        ({"input": "", "model": "x"}, "input"),
    ],
)
def test_bad_bodies_are_a_400_naming_the_field(
    api: Api, standin: Standin, body: dict, param: str
) -> None:
    response = api.post("/v1/responses", body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["param"] == param
    assert standin.received() == []
