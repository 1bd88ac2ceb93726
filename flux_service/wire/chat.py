"""The OpenAI wire format: read request bodies, build answer bodies. Pure functions.

Reading is liberal (unknown fields are ignored, content may be a string or a list of
parts); what we build carries every field the official SDKs and chat apps read.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidRequestError
from ..upstream.text_models import estimate_tokens
from .fields import MAX_IMAGES, optional, seed_of


@dataclass(frozen=True)
class ChatRequest:
    """What we take from a chat completions body."""

    prompt: str
    model: str | None = None
    stream: bool = False
    include_usage: bool = False
    seed: int | None = None
    n: int = 1  # choices, each its own image
    images: tuple[str, ...] = ()  # the image URLs of the last user message: data: or http(s)
    earlier: str | None = None  # the last image linked in the assistant's answer before it
    earlier_prompt: str = ""  # the user's message that answer drew
    messages: list = field(default_factory=list, compare=False, repr=False)


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
    content = messages[index].get("content")
    earlier, earlier_prompt = _earlier_image(messages[:index])
    stream = optional(body, "stream", bool, default=False)
    options = optional(body, "stream_options", dict, {})
    n = optional(body, "n", int, 1)
    if not 1 <= n <= MAX_IMAGES:  # a chat's choices: each its own image
        raise InvalidRequestError(f"`n` must be between 1 and {MAX_IMAGES}.", param="n")
    return ChatRequest(
        prompt=message_text(content, f"messages[{index}].content"),
        model=optional(body, "model", str),
        stream=stream,
        include_usage=stream and optional(options, "include_usage", bool, default=False),
        seed=seed_of(body),
        n=n,
        images=image_urls(content, f"messages[{index}].content"),
        earlier=earlier,
        earlier_prompt=earlier_prompt,
        messages=messages,
    )


def image_urls(content: Any, param: str) -> tuple[str, ...]:
    """The image URLs of a message's `image_url` parts, in order."""
    if not isinstance(content, list):
        return ()
    urls = []
    for part in content:
        if part.get("type") != "image_url":
            continue
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url:
            raise InvalidRequestError(
                f"Each `image_url` part of `{param}` needs `image_url.url`: a data: URI or an "
                "http(s) URL.",
                param=param,
            )
        urls.append(url)
    return tuple(urls)


# Linear: neither part can run on past the next bracket or parenthesis.
_MARKDOWN_IMAGE = re.compile(r"!\[[^\[\]\n]*\]\(([^\s()]+)\)")


def _earlier_image(messages: list) -> tuple[str | None, str]:
    """The last image linked in the most recent assistant message of `messages`, and the text
    of the user message it answered."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index]["role"] != "assistant":
            continue
        links = _MARKDOWN_IMAGE.findall(text_of(messages[index].get("content"))[:100_000])
        if not links:
            return None, ""
        asked = next((m for m in reversed(messages[:index]) if m["role"] == "user"), None)
        return links[-1], text_of(asked.get("content")) if asked else ""
    return None, ""


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


def new_completion_id() -> str:
    """A fresh id for a chat completion."""
    return "chatcmpl-" + secrets.token_hex(12)


def usage(prompt: str, content: str) -> dict[str, int]:
    """The `usage` object for a prompt and the answer to it."""
    prompt_tokens, completion_tokens = estimate_tokens(prompt), estimate_tokens(content)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_body(
    completion_id: str, created: int, model: str, contents: list[str], usage: dict[str, int]
) -> dict:
    """A non-streaming `chat.completion`, a choice for each of `contents`."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": index,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
            for index, content in enumerate(contents)
        ],
        "usage": usage,
    }


def chunk_body(
    completion_id: str,
    created: int,
    model: str,
    delta: dict[str, str],
    finish_reason: str | None = None,
    index: int = 0,
) -> dict:
    """One `chat.completion.chunk` carrying `delta` for choice `index`."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [
            {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        ],
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
    }
