"""The MCP tools: their definitions for each revision, reading a call's arguments (every
mistake named), and the results, each checked against the spec's schemas and the tool's
own output schema."""

from __future__ import annotations

import json

import pytest

from config import DEFAULT_MODELS
from flux_service.errors import InvalidRequestError
from flux_service.generation.codec import EncodedImage
from flux_service.upstream.catalog import ServedModels
from flux_service.upstream.costs import estimate
from flux_service.wire.mcp_protocol import completed
from flux_service.wire.mcp_results import (
    Drawing,
    Drawn,
    ToolImage,
    drawing_result,
    failure_result,
    model_facts,
    models_result,
    read_drawing,
)
from flux_service.wire.mcp_tools import DRAWN_SCHEMA, EDIT, GENERATE, MODELS, MODELS_SCHEMA, tools
from tests.mcp_schemas import REVISIONS, check, check_schema, example
from tests.pictures import encoded, pattern

SERVED = ServedModels.from_ids(DEFAULT_MODELS[0], DEFAULT_MODELS)
SCHNELL_ONLY = ServedModels.from_ids(DEFAULT_MODELS[0], DEFAULT_MODELS[:1])
WITH_IMG2IMG = ServedModels.from_ids(
    DEFAULT_MODELS[0], (DEFAULT_MODELS[0], "@cf/runwayml/stable-diffusion-v1-5-img2img")
)
EDITOR = SERVED.editor(None, "")
JPEG = EncodedImage(encoded(pattern(1024, 576), "JPEG"), "image/jpeg", 1024, 576)
PREVIEW = EncodedImage(b"preview", "image/jpeg", 768, 432)


def drawn(count: int = 1, worked_from: tuple = ()) -> Drawn:
    pictures = tuple(
        ToolImage(f"https://flux.example/image/{'k' * 31}{index}", JPEG, JPEG, 7 + index,
                1_790_000_000.0, reused=index == 1)
        for index in range(count)
    )  # fmt: skip
    return Drawn("flux-2-klein-4b", "a red fox", "a red fox, golden hour", pictures, worked_from)


@pytest.mark.parametrize("revision", REVISIONS)
def test_the_tools_are_the_schemas_tools_in_every_revision(revision: str) -> None:
    listed = tools(SERVED, EDITOR, 1800, revision)
    assert [tool["name"] for tool in listed] == [GENERATE, EDIT, MODELS]
    for tool in listed:
        check(revision, "Tool", tool)
        assert ("outputSchema" in tool) is (revision != "2025-03-26")
        assert ("title" in tool) is (revision != "2025-03-26")
    result = {"tools": listed}
    if revision == "2026-07-28":
        result |= {"resultType": "complete", "ttlMs": 300000, "cacheScope": "public"}
    check(revision, "ListToolsResult", result)


def test_descriptions_stay_within_what_clients_keep() -> None:
    # Claude Code cuts tool descriptions at 2 KB.
    for tool in tools(SERVED, EDITOR, 1800, "2026-07-28"):
        assert len(tool["description"].encode()) < 2048
        assert "30 minutes" in tool["description"] or tool["name"] == MODELS


def test_each_tool_offers_the_models_that_can_do_its_work() -> None:
    generate, edit, _ = tools(SERVED, EDITOR, 0, "2026-07-28")
    names = ["flux-1-schnell", "flux-2-klein-4b", "flux-2-klein-9b"]
    assert generate["inputSchema"]["properties"]["model"]["enum"] == names
    assert edit["inputSchema"]["properties"]["model"]["enum"] == names[1:]
    assert (
        "without it, flux-2-klein-4b" in edit["inputSchema"]["properties"]["model"]["description"]
    )
    assert "for good" in generate["description"]
    listed = tools(WITH_IMG2IMG, WITH_IMG2IMG.editor(None, ""), 0, "2026-07-28")
    offered = [tool["inputSchema"]["properties"]["model"]["enum"] for tool in listed[:2]]
    assert offered == [["flux-1-schnell"], ["sd-1.5-img2img"]]  # it draws from a picture only


def test_without_a_model_that_edits_there_is_no_edit_tool() -> None:
    listed = tools(SCHNELL_ONLY, SCHNELL_ONLY.editor(None, ""), 1800, "2026-07-28")
    assert [tool["name"] for tool in listed] == [GENERATE, MODELS]


def test_a_call_is_read_into_what_it_asks() -> None:
    arguments = {"prompt": "a fox", "aspect_ratio": "16:9", "model": "flux-2-klein-9b", "n": 2,
                 "seed": 5, "output_format": "png", "unknown": "ignored"}  # fmt: skip
    assert read_drawing(GENERATE, arguments, SERVED) == Drawing(
        "a fox", "@cf/black-forest-labs/flux-2-klein-9b", 2, (1024, 576), 5, "image/png"
    )
    edit = read_drawing(EDIT, {"prompt": "p", "images": " data:x ", "size": "512x768"}, SERVED)
    assert (edit.images, edit.size, edit.model, edit.mask) == (("data:x",), (512, 768), None, None)
    assert (
        read_drawing(EDIT, {"prompt": "p", "images": ["a", "b"], "mask": "m"}, SERVED).mask == "m"
    )
    assert read_drawing(GENERATE, {"prompt": "p", "n": 2.0, "size": "auto"}, SERVED).n == 2


@pytest.mark.parametrize(
    ("tool", "arguments", "param", "words"),
    [
        (GENERATE, {}, "prompt", "`prompt` is required"),
        (GENERATE, {"prompt": "  "}, "prompt", "`prompt` is required"),
        (GENERATE, {"prompt": 5}, "prompt", "`prompt` must be a string"),
        (GENERATE, {"prompt": "p", "n": "2"}, "n", "`n` must be a whole number"),
        (GENERATE, {"prompt": "p", "n": 9}, "n", "between 1 and 4"),
        (GENERATE, {"prompt": "p", "seed": -1}, "seed", "between 0 and 4294967295"),
        (GENERATE, {"prompt": "p", "seed": True}, "seed", "whole number"),
        (GENERATE, {"prompt": "p", "size": "big"}, "size", "WIDTHxHEIGHT"),
        (GENERATE, {"prompt": "p", "size": "10x10"}, "size", "from 64 to 8192"),
        (GENERATE, {"prompt": "p", "aspect_ratio": "5:4"}, "aspect_ratio", "one of 1:1"),
        (GENERATE, {"prompt": "p", "aspect_ratio": "1:1", "size": "64x64"}, "size", "not both"),
        (GENERATE, {"prompt": "p", "model": "dall-e-3"}, "model", "use one of flux-1-schnell"),
        (GENERATE, {"prompt": "p", "output_format": "gif"}, "output_format", "`png`, `jpeg`"),
        (EDIT, {"prompt": "p"}, "images", "list of one to 4 images"),
        (EDIT, {"prompt": "p", "images": []}, "images", "list of one to 4"),
        (EDIT, {"prompt": "p", "images": [1]}, "images", "list of one to 4"),
        (EDIT, {"prompt": "p", "images": ["a"] * 5}, "images", "list of one to 4"),
        (EDIT, {"prompt": "p", "images": ["a"], "model": "flux-1-schnell"}, "model",
         "for edit_image: use one of flux-2-klein-4b, flux-2-klein-9b"),
        (EDIT, {"prompt": "p", "images": ["a"], "mask": 3}, "mask", "`mask` must be a string"),
    ],
)  # fmt: skip
def test_every_mistake_in_the_arguments_is_named(
    tool: str, arguments: dict, param: str, words: str
) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        read_drawing(tool, arguments, SERVED)
    assert refused.value.param == param
    assert words in refused.value.message


@pytest.mark.parametrize("revision", ["2025-06-18", "2025-11-25", "2026-07-28"])
def test_a_drawings_result_is_the_schemas_and_its_own(revision: str) -> None:
    result = drawing_result(drawn(2, (("attached", 900, 600),)), revision)
    check(revision, "CallToolResult", completed(result, revision))
    check_schema(DRAWN_SCHEMA, result["structuredContent"])
    kinds = [block["type"] for block in result["content"]]
    assert kinds == ["text", "image", "image", "resource_link", "resource_link", "text"]
    assert json.loads(result["content"][-1]["text"]) == result["structuredContent"]
    first = result["structuredContent"]["images"][0]
    assert first == {
        "url": f"https://flux.example/image/{'k' * 31}0",
        "width": 1024,
        "height": 576,
        "mime_type": "image/jpeg",
        "bytes": len(JPEG.data),
        "seed": 7,
        "expires_at": "2026-09-21T14:13:20Z",
        "reused": False,
        "preview": {"width": 1024, "height": 576, "mime_type": "image/jpeg"},
    }
    link = result["content"][3]
    assert link["uri"] == first["url"]
    assert link["name"] == "flux-2-klein-4b-1.jpeg"
    assert link["mimeType"] == "image/jpeg"


def test_a_drawings_text_links_each_picture_and_says_what_was_drawn() -> None:
    text = drawing_result(drawn(2, (("earlier", 1024, 1024),)), "2026-07-28")["content"][0]["text"]
    assert text.startswith("Drew 2 images with flux-2-klein-4b: 1024x576 (16:9), JPEG.")
    assert "- Prompt sent to the model: a red fox, golden hour" in text
    assert "- Worked from: an image this service drew (1024x1024)" in text
    assert f"![a red fox](https://flux.example/image/{'k' * 31}0)" in text
    assert "- Seed 7; kept until 2026-09-21 14:13 UTC" in text
    assert "- Seed 8; kept until 2026-09-21 14:13 UTC; reused" in text
    assert "previews" not in text  # the pictures shown are the stored ones


def test_a_preview_is_said_to_be_one() -> None:
    picture = ToolImage("https://x/image/k", JPEG, PREVIEW, None, None)
    text = drawing_result(Drawn("m", "p", "p", (picture,)), "2026-07-28")["content"][0]["text"]
    assert "- Kept for good" in text
    assert "The images shown are previews (768x432 JPEG); each link serves the full one." in text


def test_2025_03_26_gets_the_text_and_the_pictures_alone() -> None:
    result = drawing_result(drawn(), "2025-03-26")
    check("2025-03-26", "CallToolResult", result)
    assert [block["type"] for block in result["content"]] == ["text", "image"]
    assert "structuredContent" not in result


def test_a_failure_is_a_tool_error_as_the_spec_shows() -> None:
    result = failure_result("The day's budget is spent.")
    spec = example("CallToolResult/invalid-tool-input-error.json")
    assert {**result, "resultType": "complete"}.keys() == spec.keys()
    assert result["isError"] is True
    for revision in REVISIONS:
        check(revision, "CallToolResult", completed(result, revision))


def test_list_models_says_what_each_model_does_and_costs() -> None:
    facts = model_facts(SERVED, EDITOR, 4)
    check_schema(MODELS_SCHEMA, facts)
    assert facts["defaults"] == {GENERATE: "flux-1-schnell", EDIT: "flux-2-klein-4b"}
    schnell, klein, _ = facts["models"]
    assert schnell["sizes"]["max_side"] == 1024
    assert "at 1024x1024, then cropped" in schnell["sizes"]["drawn"]
    assert (schnell["seed"], schnell["edits"]) == (False, None)
    neurons = estimate(SERVED.default, 1024, 1024, 4).neurons
    assert schnell["price_1024x1024"]["neurons"] == round(neurons, 2)
    assert klein["edits"] == {"max_images": 4, "mask": "applied afterwards"}
    assert klein["sizes"] == {
        "min_side": 64,
        "max_side": 1920,
        "drawn": "at the size asked, each side rounded up to a multiple of 16",
    }
    for revision in REVISIONS:
        result = models_result(facts, revision)
        check(revision, "CallToolResult", completed(result, revision))
        assert json.loads(result["content"][0]["text"]) == facts


def test_a_model_without_a_published_price_says_so() -> None:
    served = ServedModels.from_ids(
        DEFAULT_MODELS[0], (DEFAULT_MODELS[0], "@cf/lykon/dreamshaper-8-lcm")
    )
    facts = model_facts(served, None, 4)
    assert facts["models"][1]["price_1024x1024"] is None
    assert facts["defaults"][EDIT] is None
