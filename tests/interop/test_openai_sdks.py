"""The newest openai SDKs, Python (3.57.0) and Node (7.59.0), each from its own environment,
make every call a program makes of an image service: chat (plain, streamed, n=2), the Images
API (generations and edits, as base64 and as image event streams) and the Responses API.

Both SDKs make the same calls (openai_calls.py, node/calls.mjs) and print what they parsed;
the same checks then decode every picture and measure it, and read what the stand-in drew.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from tests.e2e.service import Service
from tests.helpers import API_KEY, Standin, decode, fetch_image, image_url
from tests.interop.clients import (
    HERE,
    Pictures,
    assert_drew_from,
    clean_env,
    program,
    run_program,
)
from tests.pictures import difference, encoded, pattern

PICTURE = pattern(768, 512)
OTHER = pattern(512, 512, seed=2)
MASK = Image.new("RGBA", PICTURE.size, (0, 0, 0, 255))
ImageDraw.Draw(MASK).rectangle((0, 0, 383, 511), fill=(0, 0, 0, 0))  # change the left half
KEPT = (480, 0, 768, 512)  # well inside the right half, which the mask keeps
WORDS = (30, 255, 115, 285)  # where the stand-in writes the prompt on the left half
NODE_SCRIPT = HERE / "node" / "calls.mjs"


@dataclass
class SDK:
    """One SDK, ready to make a call against the service and give back what it parsed."""

    client: str
    command: list[str | Path]
    base_url: str
    folder: Path

    def call(self, name: str) -> Any:
        arguments = [self.base_url, API_KEY, name, self.folder]
        return json.loads(run_program([*self.command, *arguments], env=clean_env(), timeout=90))


@pytest.fixture(params=["python", "node"])
def sdk(request: pytest.FixtureRequest, service: Service, tmp_path: Path) -> SDK:
    for name, image in (("picture.png", PICTURE), ("other.png", OTHER), ("mask.png", MASK)):
        (tmp_path / name).write_bytes(encoded(image))
    if request.param == "python":
        command: list[str | Path] = [program("openai-python", "python"), HERE / "openai_calls.py"]
        return SDK("openai-python 3.57.0", command, f"{service.url}/v1", tmp_path)
    if not (HERE / "node" / "node_modules" / "openai").is_dir():
        pytest.fail("tests/interop/node/node_modules is missing: `make interop` installs it")
    return SDK("openai-node 7.59.0", ["node", NODE_SCRIPT], f"{service.url}/v1", tmp_path)


def inline_pictures(answer: dict) -> list[Image.Image]:
    """The pictures of an Images API answer, which must come as base64 and only so."""
    assert all(item.get("url") is None for item in answer["data"]), answer["data"]
    return [decode(item["b64_json"]) for item in answer["data"]]


def size_of(text: str) -> tuple[int, int]:
    width, height = re.fullmatch(r"(\d+)x(\d+)", text).groups()  # type: ignore[union-attr]
    return int(width), int(height)


def test_chat_answers_with_a_picture_of_the_size_asked(sdk: SDK, pictures: Pictures) -> None:
    completion = sdk.call("chat")
    (choice,) = completion["choices"]
    assert choice["finish_reason"] == "stop"
    assert fetch_image(image_url(choice["message"]["content"]))[1].size == (1024, 576)
    assert pictures.shown(sdk.client, 1) == 1


def test_streamed_chat_ends_with_its_usage(sdk: SDK, pictures: Pictures) -> None:
    *chunks, usage = sdk.call("chat-stream")
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert usage["choices"] == []
    assert usage["usage"]["total_tokens"] > 0
    content = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks)
    assert fetch_image(image_url(content))[1].size == (1024, 576)
    assert pictures.shown(sdk.client, 1) == 1


def test_two_choices_have_a_picture_each(sdk: SDK, pictures: Pictures) -> None:
    completion = sdk.call("chat-n")
    assert [choice["index"] for choice in completion["choices"]] == [0, 1]
    urls = [image_url(choice["message"]["content"]) for choice in completion["choices"]]
    assert len(set(urls)) == 2
    assert [fetch_image(url)[1].size for url in urls] == [(1024, 576)] * 2
    assert pictures.shown(sdk.client, 2) == 2


def test_generate_answers_base64_by_default(sdk: SDK, pictures: Pictures) -> None:
    (image,) = inline_pictures(sdk.call("generate"))
    assert image.size == (512, 512)
    assert pictures.shown(sdk.client, 1) == 1


def test_gpt_image_says_the_size_it_delivered(sdk: SDK, pictures: Pictures) -> None:
    answer = sdk.call("generate-gpt-image")
    (image,) = inline_pictures(answer)
    assert image.size == size_of(answer["size"])
    assert image.size[0] / image.size[1] == pytest.approx(1536 / 1024, abs=0.01)
    assert answer["output_format"] == image.format.lower()
    assert answer["usage"]["total_tokens"] > 0
    assert pictures.shown(sdk.client, 1) == 1


def test_a_streamed_generation_ends_with_the_picture(sdk: SDK, pictures: Pictures) -> None:
    events = sdk.call("generate-stream")
    (completed,) = [event for event in events if event["type"] == "image_generation.completed"]
    assert events[-1] is completed
    image = decode(completed["b64_json"])
    assert image.size == size_of(completed["size"])
    assert pictures.shown(sdk.client, 1) == 1


def test_an_edit_of_one_picture(sdk: SDK, pictures: Pictures, standin: Standin) -> None:
    (image,) = inline_pictures(sdk.call("edit"))
    assert image.size == (1024, 683)  # the picture's own 3:2
    assert_drew_from(standin, PICTURE)
    assert pictures.shown(sdk.client, 1) == 1


def test_an_edit_of_two_pictures(sdk: SDK, pictures: Pictures, standin: Standin) -> None:
    (image,) = inline_pictures(sdk.call("edit-several"))
    assert image.size == (1024, 683)  # the first picture's 3:2
    assert_drew_from(standin, PICTURE, OTHER)
    assert pictures.shown(sdk.client, 1) == 1


def test_an_edit_with_a_mask_keeps_the_rest(sdk: SDK, pictures: Pictures, standin: Standin) -> None:
    (image,) = inline_pictures(sdk.call("edit-mask"))
    image = image.convert("RGB").resize(PICTURE.size)
    assert difference(image.crop(KEPT), PICTURE.crop(KEPT)) < 3
    assert difference(image.crop(WORDS), PICTURE.crop(WORDS)) > 20
    assert_drew_from(standin, PICTURE)
    assert pictures.shown(sdk.client, 1) == 1


def test_a_streamed_edit_ends_with_the_picture(
    sdk: SDK, pictures: Pictures, standin: Standin
) -> None:
    events = sdk.call("edit-stream")
    (completed,) = [event for event in events if event["type"] == "image_edit.completed"]
    assert events[-1] is completed
    assert decode(completed["b64_json"]).size == (1024, 683)
    assert_drew_from(standin, PICTURE)
    assert pictures.shown(sdk.client, 1) == 1


def test_a_response_shows_the_picture(sdk: SDK, pictures: Pictures) -> None:
    response = sdk.call("responses")
    assert response["status"] == "completed"
    assert fetch_image(image_url(output_text(response)))[1].size == (1024, 1024)
    assert pictures.shown(sdk.client, 1) == 1


def test_the_image_generation_tool_gives_the_picture_as_base64(
    sdk: SDK, pictures: Pictures
) -> None:
    response = sdk.call("responses-tool")
    (call,) = [item for item in response["output"] if item["type"] == "image_generation_call"]
    assert call["status"] == "completed"
    assert decode(call["result"]).size == (1024, 1024)
    assert pictures.shown(sdk.client, 1) == 1


def test_a_streamed_response_runs_from_created_to_completed(sdk: SDK, pictures: Pictures) -> None:
    events = sdk.call("responses-stream")
    kinds = [event["type"] for event in events]
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    streamed = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert streamed == output_text(events[-1]["response"])
    assert fetch_image(image_url(streamed))[1].size == (1024, 1024)
    assert pictures.shown(sdk.client, 1) == 1


def output_text(response: dict) -> str:
    """The text of a response's messages, as the SDKs' `output_text` joins it."""
    return "".join(
        part["text"]
        for item in response["output"]
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    )
