"""The OpenAI Responses API on the wire: read a `/v1/responses` body, build its answer and
its event stream. Pure functions.

A Responses `input` is read as the chat messages it stands for, so one parser (and one
generation path) serves both APIs. The answer holds an `image_generation_call` item with the
image in base64 and an assistant message with the same markdown a chat answer has.
"""

from __future__ import annotations

import itertools
import secrets
from base64 import b64encode
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import FluxError, InvalidRequestError
from .chat import ChatRequest, estimate_tokens, parse_chat_request
from .fields import optional
from .images import Delivered, output_mime, parse_size, quality_of

# What a Responses content part is in a chat message's terms.
_TEXT_PARTS = ("input_text", "output_text", "text")
_ROLES = ("user", "assistant", "system", "developer")


@dataclass(frozen=True)
class ResponsesRequest:
    """What we take from a Responses body: the conversation as chat, and the image
    tool's own choices."""

    chat: ChatRequest
    size: tuple[int, int] | None = None
    mime: str | None = None
    quality: str | None = None


def parse_responses_request(body: Any) -> ResponsesRequest:
    """Read a `/v1/responses` body; raise InvalidRequestError naming the bad field."""
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    given = body.get("input")
    messages: list[dict]
    if isinstance(given, str):
        messages = [{"role": "user", "content": given}]
    elif isinstance(given, list):
        read = (_message(item, f"input[{index}]") for index, item in enumerate(given))
        messages = [message for message in read if message is not None]
    else:
        raise InvalidRequestError(
            "`input` must be a string or a list of input items.", param="input"
        )
    chat = parse_chat_request(
        {
            "messages": messages or [{"role": "user", "content": []}],
            "model": body.get("model"),
            "stream": body.get("stream"),
            "seed": body.get("seed"),
        }
    )
    tool = _image_tool(body.get("tools"))
    whose = "The image_generation tool's "
    return ResponsesRequest(
        chat,
        parse_size(optional(tool, "size", str, "auto")),
        output_mime(tool, whose=whose, param="tools"),
        quality_of(tool, whose=whose, param="tools"),
    )


def _message(item: Any, param: str) -> dict | None:
    """An input item as a chat message; None for items that are no message (an earlier
    image call, say: the assistant message beside it holds its link)."""
    if not isinstance(item, dict):
        raise InvalidRequestError(f"`{param}` must be an object.", param=param)
    if item.get("type", "message") != "message":
        return None
    role, content = item.get("role"), item.get("content")
    if role not in _ROLES:
        raise InvalidRequestError(
            f"`{param}.role` must be `user`, `assistant`, `system` or `developer`.", param=param
        )
    if isinstance(content, list):
        content = [_part(part, f"{param}.content[{index}]") for index, part in enumerate(content)]
    return {"role": role, "content": content}


def _part(part: Any, param: str) -> dict:
    """A Responses content part as a chat content part."""
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in _TEXT_PARTS and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise InvalidRequestError(
                f"`{param}` needs `image_url`: a data: URI or an http(s) URL "
                "(file ids are not kept here).",
                param=param,
            )
        return {"type": "image_url", "image_url": {"url": url}}
    return {"type": str(kind)}  # other parts (files, audio) carry nothing we draw from


def _image_tool(tools: Any) -> dict:
    """The `image_generation` tool's settings, if the request lists that tool."""
    if tools is None:
        return {}
    if not isinstance(tools, list):
        raise InvalidRequestError("`tools` must be a list.", param="tools")
    if not all(isinstance(tool, dict) and isinstance(tool.get("type"), str) for tool in tools):
        raise InvalidRequestError(
            "Each of `tools` must be an object with a string `type`.", param="tools"
        )
    return next((tool for tool in tools if tool["type"] == "image_generation"), {})


@dataclass(frozen=True)
class Ids:
    """A response's id, and its image call's and message's."""

    response: str
    call: str
    message: str

    @classmethod
    def new(cls) -> Ids:
        return cls(*(f"{prefix}_{secrets.token_hex(16)}" for prefix in ("resp", "ig", "msg")))


@dataclass(frozen=True)
class ResponseImage:
    """An image the response carries: its bytes and what was delivered."""

    data: bytes
    delivered: Delivered
    edited: bool = False  # drawn from the images of the input, not from words alone


def image_call(call_id: str, image: ResponseImage | None) -> dict:
    """The `image_generation_call` item: in progress, or done with its image."""
    if image is None:
        return {"type": "image_generation_call", "id": call_id, "status": "in_progress",
                "result": None}  # fmt: skip
    return {
        "type": "image_generation_call",
        "id": call_id,
        "status": "completed",
        "action": "edit" if image.edited else "generate",
        "result": b64encode(image.data).decode(),
        "revised_prompt": image.delivered.prompt,
        **image.delivered.fields(),
    }


def text_part(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message(message_id: str, text: str | None) -> dict:
    """The assistant message item: in progress and empty, or done with `text`."""
    done = text is not None
    return {
        "type": "message",
        "id": message_id,
        "status": "completed" if done else "in_progress",
        "role": "assistant",
        "content": [text_part(text)] if text is not None else [],
    }


def response_body(
    response_id: str, created: int, model: str, output: list[dict], prompt: str, text: str
) -> dict:
    """A `response` object; with `output` empty it is still in progress, and its usage not
    known yet (so left out: OpenAI's schema takes no null for it)."""
    done = bool(output)
    inputs, outputs = estimate_tokens(prompt), estimate_tokens(text)
    usage = {
        "input_tokens": inputs,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": outputs,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": inputs + outputs,
    }
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": "completed" if done else "in_progress",
        "model": model,
        "output": output,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": None,
        "tool_choice": "auto",
        "tools": [{"type": "image_generation"}],
        "top_p": None,
        **({"usage": usage} if done else {}),
    }


def output_items(ids: Ids, image: ResponseImage | None, text: str) -> list[dict]:
    """A finished response's output: the image call (unless nothing was drawn), then the
    message."""
    items = [image_call(ids.call, image)] if image is not None else []
    return [*items, message(ids.message, text)]


class Numbered:
    """Numbers a stream's events in the order they are sent: `sequence_number`."""

    def __init__(self) -> None:
        self._numbers = itertools.count()

    def __call__(self, event: dict) -> dict:
        return {**event, "sequence_number": next(self._numbers)}


def error_event(error: FluxError, numbered: Numbered) -> dict:
    """The `error` event that ends a failed stream: OpenAI's fields (`code`, `message`,
    `param`) and the OpenAI error body beside them, which the SDKs raise."""
    body = error.to_dict()
    details = body["error"]
    fields = {"code": details["code"], "message": details["message"], "param": details["param"]}
    return numbered({"type": "error", **fields, **body})


def response_events(
    ids: Ids,
    created: int,
    model: str,
    prompt: str,
    draws: bool,
    finish: Callable[[], tuple[ResponseImage | None, str]],
    numbered: Numbered,
) -> Iterator[dict]:
    """The Responses event sequence, `numbered`. The response (and its image call, when it
    `draws`) begins at once; `finish()` does the work and gives the image and the text.
    The events follow OpenAI's order, which the SDKs' stream helpers check."""
    opening = response_body(ids.response, created, model, [], prompt, "")
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": opening},
        {"type": "response.in_progress", "response": opening},
    ]
    call: dict[str, Any] = {"output_index": 0, "item_id": ids.call}
    if draws:
        events += [
            {"type": "response.output_item.added", "output_index": 0,
             "item": image_call(ids.call, None)},
            {"type": "response.image_generation_call.in_progress", **call},
            {"type": "response.image_generation_call.generating", **call},
        ]  # fmt: skip
    yield from map(numbered, events)
    image, text = finish()
    output = output_items(ids, image, text)
    events = []
    if image is not None:
        events += [
            {"type": "response.image_generation_call.completed", **call},
            {"type": "response.output_item.done", "output_index": 0, "item": output[0]},
        ]
    at: dict[str, Any] = {
        "output_index": len(output) - 1,
        "item_id": ids.message,
        "content_index": 0,
    }
    events += [
        {"type": "response.output_item.added", "output_index": at["output_index"],
         "item": message(ids.message, None)},
        {"type": "response.content_part.added", **at, "part": text_part("")},
        {"type": "response.output_text.delta", **at, "delta": text, "logprobs": []},
        {"type": "response.output_text.done", **at, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **at, "part": text_part(text)},
        {"type": "response.output_item.done", "output_index": at["output_index"],
         "item": output[-1]},
        {"type": "response.completed",
         "response": response_body(ids.response, created, model, output, prompt, text)},
    ]  # fmt: skip
    yield from map(numbered, events)
