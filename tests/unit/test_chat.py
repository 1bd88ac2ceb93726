"""Reading chat bodies and building OpenAI answer bodies."""

import json

import pytest

from flux_service.errors import InvalidRequestError
from flux_service.wire.chat import (
    ChatRequest,
    chunk_body,
    completion_body,
    message_text,
    parse_chat_request,
    usage,
    usage_chunk_body,
)
from flux_service.wire.json_body import decode_json
from flux_service.wire.model_list import model_list_body
from flux_service.wire.sse import sse_event


def user(content: object) -> dict:
    return {"role": "user", "content": content}


def test_the_last_user_message_is_the_prompt() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "be nice"},
            user("an old prompt"),
            {"role": "assistant", "content": "![old](http://x/image/a)"},
            user("a new prompt 16:9"),
            {"role": "assistant", "content": None, "tool_calls": []},
        ]
    }
    assert parse_chat_request(body).prompt == "a new prompt 16:9"


def test_content_parts_join_their_text_and_skip_the_rest() -> None:
    content = [
        {"type": "text", "text": "a red fox"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "in the snow"},
        {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}},
    ]
    assert message_text(content, "messages[0].content") == "a red fox in the snow"


def test_unknown_fields_are_ignored() -> None:
    body = {
        "messages": [user("a fox")],
        "temperature": 0.2,
        "top_p": 1,
        "user": "u-1",
        "keep_alive": "5m",
        "enable_thinking": False,
        "tools": [],
        "chat_id": "abc",
        "stream_options": {"include_usage": True},
    }
    assert parse_chat_request(body) == ChatRequest(prompt="a fox")


def test_stream_options_count_only_when_streaming() -> None:
    body = {"messages": [user("a fox")], "stream": True, "stream_options": {"include_usage": True}}
    assert parse_chat_request(body) == ChatRequest("a fox", stream=True, include_usage=True)


def test_model_and_seed_are_read() -> None:
    body = {"messages": [user("a fox")], "model": "flux-2-klein-4b", "seed": 42}
    assert parse_chat_request(body) == ChatRequest("a fox", model="flux-2-klein-4b", seed=42)


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ([1, 2], None, "JSON object"),
        ({}, "messages", "non-empty list"),
        ({"messages": []}, "messages", "non-empty list"),
        ({"messages": "hi"}, "messages", "non-empty list"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages", "role `user`"),
        ({"messages": [user(42)]}, "messages[0].content", "string or a list"),
        ({"messages": [user(None)]}, "messages[0].content", "string or a list"),
        ({"messages": [user({"text": "x"})]}, "messages[0].content", "string or a list"),
        ({"messages": [user([{"type": "image_url"}])]}, "messages[0].content", "no text"),
        ({"messages": [user("x")], "stream": "yes"}, "stream", "boolean"),
        ({"messages": [user("x")], "model": 3}, "model", "string"),
        ({"messages": [user("x")], "seed": "7"}, "seed", "whole number"),
        ({"messages": [user("x")], "seed": True}, "seed", "whole number"),
        ({"messages": [user("x")], "seed": -1}, "seed", "between 0 and 4294967295"),
        ({"messages": [user("x")], "seed": 2**32}, "seed", "between 0 and 4294967295"),
        ({"messages": [user("x")], "stream_options": []}, "stream_options", "JSON object"),
        ({"messages": [user("x"), 5]}, "messages[1]", "string `role`"),
        ({"messages": [{"content": "x"}]}, "messages[0]", "string `role`"),
        ({"messages": [user(["a fox"])]}, "messages[0].content", "string `type`"),
    ],
)
def test_bad_bodies_name_what_is_wrong(body: object, param: str | None, words: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_chat_request(body)
    assert caught.value.param == param
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"seed": 1' + b"0" * 5000 + b"}", "number too long"),
    ],
)
def test_undecodable_bodies_are_explained(data: bytes, words: str) -> None:
    with pytest.raises(InvalidRequestError, match=words):
        decode_json(data)


def test_a_byte_order_mark_is_allowed() -> None:
    assert decode_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


def test_completion_body_has_every_field_the_sdks_read() -> None:
    body = completion_body("chatcmpl-1", 1700000000, "m", ["hello"], usage("p", "hello"))
    assert body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice == {
        "index": 0,
        "message": {"role": "assistant", "content": "hello", "refusal": None},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 2


def test_chunks_and_the_usage_chunk() -> None:
    chunk = chunk_body("chatcmpl-1", 1, "m", {"content": "x"})
    assert chunk["object"] == "chat.completion.chunk"
    assert chunk["choices"][0]["delta"] == {"content": "x"}
    assert chunk["choices"][0]["finish_reason"] is None
    last = usage_chunk_body("chatcmpl-1", 1, "m", usage("a", "b"))
    assert last["choices"] == []
    assert set(last["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}


def test_sse_event_is_a_data_line_and_a_blank_line() -> None:
    event = sse_event({"a": "é"})
    assert event == 'data: {"a": "é"}\n\n'
    assert json.loads(event.removeprefix("data: ")) == {"a": "é"}
    assert sse_event("[DONE]") == "data: [DONE]\n\n"


def test_model_list_shape() -> None:
    assert model_list_body([]) == {"object": "list", "data": []}


def test_the_last_user_messages_images_are_read_in_order() -> None:
    parts = [
        {"type": "text", "text": "mix these"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "image_url", "image_url": "https://example.com/b.jpg"},  # the older shape
    ]
    body = {"messages": [user([{"type": "image_url", "image_url": {"url": "old"}}, *parts])]}
    chat = parse_chat_request(
        {"messages": [user("earlier"), {"role": "assistant", "content": "x"}, *body["messages"]]}
    )
    assert chat.images == ("old", "data:image/png;base64,AAAA", "https://example.com/b.jpg")
    assert chat.prompt == "mix these"


def test_images_in_earlier_messages_are_not_read() -> None:
    old = user([{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "u"}}])
    chat = parse_chat_request({"messages": [old, user("now this")]})
    assert chat.images == ()


def test_the_last_image_answered_and_what_asked_for_it() -> None:
    messages = [
        user("a lighthouse 3:2"),
        {
            "role": "assistant",
            "content": "- x\n\n![one](http://h/image/A)\n![two](http://h/image/B)",
        },
        user("make it night"),
    ]
    chat = parse_chat_request({"messages": messages})
    assert (chat.earlier, chat.earlier_prompt) == ("http://h/image/B", "a lighthouse 3:2")
    # An answer without an image above the new message: nothing to change.
    plain = [*messages[:2], {"role": "assistant", "content": "hello"}, user("make it night")]
    assert parse_chat_request({"messages": plain}).earlier is None


def test_an_image_part_without_a_url_is_refused() -> None:
    body = {"messages": [user([{"type": "text", "text": "x"}, {"type": "image_url"}])]}
    with pytest.raises(InvalidRequestError, match=r"image_url\.url"):
        parse_chat_request(body)
