"""Make one call with the openai Python SDK and print what the SDK gave back, as JSON.

Run with the SDK's own environment by tests/interop/test_openai_sdks.py, which checks the
same calls made by openai-node (node/calls.mjs):

    python openai_calls.py <base URL ending in /v1> <API key> <call> <folder of pictures>

The folder holds picture.png, other.png and mask.png (the mask as large as picture.png).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai

FOX = [{"role": "user", "content": "a lighthouse at dusk 16:9"}]


def calls(client: openai.OpenAI, folder: Path) -> dict[str, Callable[[], Any]]:
    picture, other, mask = (folder / name for name in ("picture.png", "other.png", "mask.png"))
    chat = client.chat.completions.create
    images = client.images
    return {
        "chat": lambda: chat(model="flux", messages=FOX),
        "chat-stream": lambda: list(
            chat(model="flux", messages=FOX, stream=True, stream_options={"include_usage": True})
        ),
        "chat-n": lambda: chat(model="flux", messages=FOX, n=2),
        "generate": lambda: images.generate(model="flux", prompt="a red fox", size="512x512"),
        "generate-gpt-image": lambda: images.generate(
            model="gpt-image-1", prompt="a paper boat", size="1536x1024"
        ),
        "generate-stream": lambda: list(
            images.generate(model="gpt-image-1", prompt="a paper boat", stream=True)
        ),
        "edit": lambda: images.edit(image=picture, prompt="add a red balloon"),
        "edit-several": lambda: images.edit(image=[picture, other], prompt="the two together"),
        "edit-mask": lambda: images.edit(image=picture, mask=mask, prompt="a moon"),
        "edit-stream": lambda: list(
            images.edit(image=picture, prompt="add a red balloon", stream=True)
        ),
        "responses": lambda: client.responses.create(model="flux", input="a red fox"),
        "responses-tool": lambda: client.responses.create(
            model="flux", input="a red fox", tools=[{"type": "image_generation"}]
        ),
        "responses-stream": lambda: _streamed_response(client),
    }


def _streamed_response(client: openai.OpenAI) -> list[Any]:
    with client.responses.stream(model="flux", input="a red fox") as stream:
        return list(stream)


def plain(value: Any) -> Any:
    """The SDK's objects as JSON: pydantic models dumped, lists item by item."""
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value.model_dump(mode="json", exclude_none=True)


def main(base_url: str, api_key: str, call: str, folder: str) -> None:
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=60)
    print(json.dumps(plain(calls(client, Path(folder))[call]())))


if __name__ == "__main__":
    main(*sys.argv[1:])
