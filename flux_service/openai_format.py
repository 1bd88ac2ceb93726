"""The OpenAI wire format: read request bodies, build answer bodies. Pure functions.

Reading is liberal (unknown fields are ignored, content may be a string or a list of
parts); what we build carries every field the official SDKs and chat apps read.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from base64 import b64encode
from dataclasses import dataclass, field
from typing import Any

import orjson

from .catalog import MAX_SEED
from .errors import InvalidRequestError
from .prompt import MAX_SIDE, MIN_SIDE

MAX_IMAGES = 4
IMAGE_FORMATS = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "webp": "image/webp",
}
_SIZE = re.compile(r"(\d{1,5})[xX](\d{1,5})")


@dataclass(frozen=True)
class ChatRequest:
    """What we take from a chat completions body."""

    prompt: str
    model: str | None = None
    stream: bool = False
    include_usage: bool = False
    seed: int | None = None
    messages: list = field(default_factory=list, compare=False, repr=False)


@dataclass(frozen=True)
class ImagesRequest:
    """What we take from an images generations body."""

    prompt: str
    model: str | None = None
    n: int = 1
    size: tuple[int, int] | None = None  # None: from the prompt, or the default
    response_format: str = "url"
    mime: str | None = None  # None: the model's own image type
    seed: int | None = None


def decode_json(data: bytes) -> Any:
    """The JSON value in a request body; InvalidRequestError says what is wrong with it.

    orjson reads a well-formed body five times faster than the standard library; the rest
    (and what orjson refuses though JSON allows it: a lone surrogate escape, a BOM, a number
    past 64 bits) go to `explain_json`, which takes them or says what is wrong.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return explain_json(data)


def explain_json(data: bytes) -> Any:
    """`data` read by the standard library: its value, or an InvalidRequestError saying what
    is wrong with it."""
    if not data.strip():
        raise InvalidRequestError("The request body is empty: send a JSON object.")
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InvalidRequestError("The request body is not valid UTF-8.") from None
    except RecursionError:
        raise InvalidRequestError("The request body is nested too deeply.") from None
    except json.JSONDecodeError as error:
        raise InvalidRequestError(
            f"The request body is not valid JSON: {error.msg} "
            f"(line {error.lineno}, column {error.colno})."
        ) from None
    except ValueError:  # a number with thousands of digits
        raise InvalidRequestError("The request body holds a number too long to read.") from None


def parse_chat_request(body: Any) -> ChatRequest:
    """Read a `/v1/chat/completions` body; raise InvalidRequestError naming the bad field."""
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("`messages` must be a non-empty list.", param="messages")
    for index, message in enumerate(messages):
        _check_message(message, f"messages[{index}]")
    users = [index for index, message in enumerate(messages) if message["role"] == "user"]
    if not users:
        raise InvalidRequestError(
            "`messages` must contain at least one message with role `user`.", param="messages"
        )
    index = users[-1]
    stream = _optional(body, "stream", bool, default=False)
    options = _optional(body, "stream_options", dict, {})
    return ChatRequest(
        prompt=message_text(messages[index].get("content"), f"messages[{index}].content"),
        model=_optional(body, "model", str),
        stream=stream,
        include_usage=stream and _optional(options, "include_usage", bool, default=False),
        seed=_seed(body),
        messages=messages,
    )


def _check_message(message: Any, param: str) -> None:
    """A message is an object with a string `role` and text, parts or (except from the user)
    nothing as content."""
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise InvalidRequestError(f"`{param}` must be an object with a string `role`.", param=param)
    content = message.get("content")
    if content is None and message["role"] == "user":
        raise InvalidRequestError(
            f"`{param}.content` must be a string or a list of content parts.",
            param=f"{param}.content",
        )
    if isinstance(content, list):
        if not all(
            isinstance(part, dict) and isinstance(part.get("type"), str) for part in content
        ):
            raise InvalidRequestError(
                f"Each part of `{param}.content` must be an object with a string `type`.",
                param=f"{param}.content",
            )
    elif content is not None and not isinstance(content, str):
        raise InvalidRequestError(
            f"`{param}.content` must be a string or a list of content parts.",
            param=f"{param}.content",
        )


def _seed(body: dict) -> int | None:
    seed = _optional(body, "seed", int)
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise InvalidRequestError(f"`seed` must be between 0 and {MAX_SEED}.", param="seed")
    return seed


def parse_images_request(body: Any) -> ImagesRequest:
    """Read a `/v1/images/generations` body; raise InvalidRequestError naming the bad field."""
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    prompt = _optional(body, "prompt", str, "")
    if not prompt.strip():
        raise InvalidRequestError("`prompt` must be a non-empty string.", param="prompt")
    model = _optional(body, "model", str)
    n = _optional(body, "n", int, 1)
    if not 1 <= n <= MAX_IMAGES:
        raise InvalidRequestError(f"`n` must be between 1 and {MAX_IMAGES}.", param="n")
    # gpt-image models answer in base64 only; the others default to URLs, as OpenAI does.
    default_format = "b64_json" if (model or "").lower().startswith("gpt-image") else "url"
    response_format = _optional(body, "response_format", str, default_format)
    if response_format not in ("url", "b64_json"):
        raise InvalidRequestError(
            "`response_format` must be `url` or `b64_json`.", param="response_format"
        )
    output_format = _optional(body, "output_format", str)
    if output_format is not None and output_format not in IMAGE_FORMATS:
        raise InvalidRequestError(
            "`output_format` must be `png`, `jpeg` or `webp`.", param="output_format"
        )
    return ImagesRequest(
        prompt=prompt,
        model=model,
        n=n,
        size=parse_size(_optional(body, "size", str, "auto")),
        response_format=response_format,
        mime=IMAGE_FORMATS[output_format] if output_format else None,
        seed=_seed(body),
    )


def parse_size(size: str) -> tuple[int, int] | None:
    """`WIDTHxHEIGHT` as numbers, or None for `auto`."""
    if size == "auto":
        return None
    match = _SIZE.fullmatch(size)
    if not match or not all(MIN_SIDE <= int(side) <= MAX_SIDE for side in match.groups()):
        raise InvalidRequestError(
            f"`size` must be `auto` or WIDTHxHEIGHT with sides from {MIN_SIDE} to {MAX_SIDE}, "
            "e.g. 1024x1024.",
            param="size",
        )
    return int(match[1]), int(match[2])


def image_item(data: bytes, url: str | None, revised_prompt: str | None) -> dict:
    """One entry of an images answer: its `url` if it has one, else its bytes in base64."""
    item = {"url": url} if url is not None else {"b64_json": b64encode(data).decode()}
    if revised_prompt is not None:
        item["revised_prompt"] = revised_prompt
    return item


def images_body(created: int, items: list[dict]) -> dict:
    """An images answer."""
    return {"created": created, "data": items}


def message_text(content: Any, param: str) -> str:
    """The text of the last user message; InvalidRequestError (naming `param`) if it has none."""
    if not isinstance(content, (str, list)):
        raise InvalidRequestError(
            "The content of the last user message must be a string or a list of content parts.",
            param=param,
        )
    text = text_of(content)
    if isinstance(content, list) and not text:
        raise InvalidRequestError("The last user message has no text part.", param=param)
    return text


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or its `text` parts joined; else ""."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return " ".join(
        part["text"]
        for part in content
        if isinstance(part, dict)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
    )


def _optional(body: dict, name: str, kind: type, default: Any = None) -> Any:
    value = body.get(name)
    if value is None:
        return default
    # JSON has one number type: 2.0 is the whole number 2 (JavaScript may well send it).
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    # bool is an int in Python, but `"seed": true` is not a seed.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidRequestError(f"`{name}` must be a {_KIND_NAMES[kind]}.", param=name)
    return value


_KIND_NAMES = {bool: "boolean", str: "string", int: "whole number", dict: "JSON object"}


def new_completion_id() -> str:
    """A fresh id for a chat completion."""
    return "chatcmpl-" + secrets.token_hex(12)


def estimate_tokens(text: str) -> int:
    """A rough token count (about four bytes a token); there is no tokenizer behind FLUX."""
    # surrogatepass: a lone surrogate (legal in a JSON escape) still counts, and cannot crash.
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / 4)


def usage(prompt: str, content: str) -> dict[str, int]:
    """The `usage` object for a prompt and the answer to it."""
    prompt_tokens, completion_tokens = estimate_tokens(prompt), estimate_tokens(content)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_body(
    completion_id: str, created: int, model: str, content: str, usage: dict[str, int]
) -> dict:
    """A non-streaming `chat.completion`."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
        "system_fingerprint": None,
    }


def chunk_body(
    completion_id: str,
    created: int,
    model: str,
    delta: dict[str, str],
    finish_reason: str | None = None,
) -> dict:
    """One `chat.completion.chunk` carrying `delta`."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        "system_fingerprint": None,
    }


def usage_chunk_body(completion_id: str, created: int, model: str, usage: dict) -> dict:
    """The last chunk when `stream_options.include_usage` is set: no choices, only usage."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage,
        "system_fingerprint": None,
    }


def model_entry(model_id: str, created: int, owned_by: str) -> dict:
    """One entry of `/v1/models`."""
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}


def model_list_body(entries: list[dict]) -> dict:
    """The `/v1/models` list."""
    return {"object": "list", "data": entries}


def sse_event(payload: dict | str) -> str:
    """One Server-Sent Event: `data: <json>` and a blank line, never an `event:` line."""
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n"
