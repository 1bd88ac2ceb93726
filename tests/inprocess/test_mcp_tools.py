"""The MCP tools as an agent calls them: pictures drawn, decoded and measured, linked and
stored; edits from data URIs and from our own links; the service's refusals and failures
(budgets, RATE_LIMIT, Workers AI down) as tool errors; and what each revision gets."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from PIL import Image

from flux_service.standin import DEFAULT_ACCOUNT
from tests.helpers import SECOND_ACCOUNT, SECOND_TOKEN, STANDIN_TOKEN, Standin
from tests.inprocess.mcp_api import Mcp
from tests.mcp_messages import LEGACY, MODERN, call, modern
from tests.mcp_schemas import check_schema
from tests.pictures import data_uri, difference, encoded, pattern, recorded, thumbnail

KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"
PHOTO = pattern(1200, 800)
DAILY = {"kind": "error", "status": 429, "code": 4006, "message": "daily free allocation",
         "account": DEFAULT_ACCOUNT}  # fmt: skip


@pytest.fixture
def mcp(app: Flask) -> Mcp:
    return Mcp(app.test_client())


def output_schema(mcp: Mcp, tool: str) -> dict:
    listed = mcp.result(*modern("tools/list"))["tools"]
    return next(t["outputSchema"] for t in listed if t["name"] == tool)


@pytest.mark.parametrize("revision", [MODERN, LEGACY, "2025-06-18"])
def test_generate_image_shows_links_and_describes_the_picture(
    mcp: Mcp, standin: Standin, revision: str
) -> None:
    result = mcp.call("generate_image", {"prompt": "a red fox in deep snow 16:9"}, revision)
    assert "isError" not in result
    (sent,) = standin.received()
    assert sent["inputs"]["prompt"] == "a red fox in deep snow"  # the ratio was read
    text, image, link, mirror = result["content"]
    (shown,) = mcp.pictures(result)
    assert (shown.format, shown.size) == ("JPEG", (1024, 576))  # schnell's JPEG, as it is
    facts = result["structuredContent"]
    check_schema(output_schema(mcp, "generate_image"), facts)
    (picture,) = facts["images"]
    until = picture["expires_at"][:16].replace("T", " ")
    stored = mcp.linked(picture["url"])
    assert stored.size == (1024, 576)
    assert difference(stored, shown) == 0  # the same picture
    assert link == {
        "type": "resource_link",
        "uri": picture["url"],
        "name": "flux-1-schnell-1.jpeg",
        "title": "a red fox in deep snow",
        "description": f"1024x576 JPEG, kept until {until} UTC",
        "mimeType": "image/jpeg",
        "size": picture["bytes"],
    }
    assert text["text"].startswith("Drew an image with flux-1-schnell: 1024x576 (16:9), JPEG.")
    assert f"![a red fox in deep snow]({picture['url']})" in text["text"]
    assert image["mimeType"] == "image/jpeg"
    assert mirror["type"] == "text"
    assert (facts["model"], facts["prompt"], picture["seed"]) == (
        "flux-1-schnell",
        "a red fox in deep snow",
        None,
    )


def test_2025_03_26_clients_get_the_text_and_the_picture(mcp: Mcp, standin: Standin) -> None:
    result = mcp.call("generate_image", {"prompt": "a lighthouse"}, "2025-03-26")
    assert [block["type"] for block in result["content"]] == ["text", "image"]
    assert len(standin.received()) == 1


def test_several_pictures_take_the_seeds_in_turn(mcp: Mcp, standin: Standin) -> None:
    arguments = {"prompt": "a fox", "model": "flux-2-klein-4b", "n": 2, "seed": 41,
                 "aspect_ratio": "3:4", "output_format": "png"}  # fmt: skip
    result = mcp.call("generate_image", arguments)
    facts = result["structuredContent"]
    assert [image["seed"] for image in facts["images"]] == [41, 42]
    assert sorted(call["inputs"]["seed"] for call in standin.received()) == [41, 42]
    for image, shown in zip(facts["images"], mcp.pictures(result), strict=True):
        assert (image["width"], image["height"], image["mime_type"]) == (768, 1024, "image/png")
        assert mcp.linked(image["url"]).format == "PNG"
        assert shown.size == (768, 1024)
    kinds = [block["type"] for block in result["content"]]
    assert kinds == ["text", "image", "image", "resource_link", "resource_link", "text"]


def test_a_large_picture_is_shown_as_a_preview_and_linked_whole(mcp: Mcp) -> None:
    result = mcp.call("generate_image", {"prompt": "a valley", "model": "flux-2-klein-4b",
                                         "size": "1920x1080", "output_format": "png"})  # fmt: skip
    (image,) = result["structuredContent"]["images"]
    assert (image["width"], image["height"], image["mime_type"]) == (1920, 1080, "image/png")
    assert image["preview"] == {"width": 1024, "height": 576, "mime_type": "image/jpeg"}
    (shown,) = mcp.pictures(result)
    assert (shown.format, shown.size) == ("JPEG", (1024, 576))
    full = mcp.linked(image["url"])
    assert full.size == (1920, 1080)
    assert difference(shown, full) < 4
    assert "previews (1024x576 JPEG); each link serves the full one" in result["content"][0]["text"]


def test_edit_image_works_from_a_data_uri(mcp: Mcp, standin: Standin) -> None:
    result = mcp.call("edit_image", {"prompt": "make the sun red",
                                     "images": [data_uri(encoded(PHOTO))]})  # fmt: skip
    (sent,) = standin.received()
    assert sent["model"] == KLEIN
    assert difference(recorded(sent["images"][0]), thumbnail(PHOTO)) < 4
    facts = result["structuredContent"]
    assert facts["worked_from"] == [{"origin": "sent as a data: URI", "width": 1200, "height": 800}]
    assert (facts["images"][0]["width"], facts["images"][0]["height"]) == (1024, 683)
    assert "- Worked from: sent as a data: URI (1200x800)" in result["content"][0]["text"]


def test_edit_image_reads_our_own_link_from_the_store(mcp: Mcp, standin: Standin) -> None:
    drawn = mcp.call("generate_image", {"prompt": "a blue door"})
    url = drawn["structuredContent"]["images"][0]["url"]
    result = mcp.call("edit_image", {"prompt": "paint it green", "images": [url]})
    _, second = standin.received()
    assert difference(recorded(second["images"][0]), mcp.linked(url)) < 4
    assert result["structuredContent"]["worked_from"][0]["origin"] == "an image this service drew"


def test_a_mask_keeps_what_it_covers(mcp: Mcp) -> None:
    mask = Image.new("RGBA", PHOTO.size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 600, 800))  # change the left half
    arguments = {"prompt": "night", "images": [data_uri(encoded(PHOTO))],
                 "mask": data_uri(encoded(mask))}  # fmt: skip
    result = mcp.call("edit_image", arguments)
    picture = mcp.linked(result["structuredContent"]["images"][0]["url"])
    right = (700, 100, 1000, 600)
    kept = picture.resize(PHOTO.size).crop(right)
    assert difference(kept, PHOTO.crop(right)) < 12


def test_list_models_tells_each_models_powers_and_price(mcp: Mcp) -> None:
    result = mcp.call("list_models", {})
    facts = result["structuredContent"]
    check_schema(output_schema(mcp, "list_models"), facts)
    assert [model["name"] for model in facts["models"]] == [
        "flux-1-schnell",
        "flux-2-klein-4b",
        "flux-2-klein-9b",
    ]
    assert facts["defaults"] == {
        "generate_image": "flux-1-schnell",
        "edit_image": "flux-2-klein-4b",
    }


def test_a_server_without_an_editing_model_offers_no_edit_tool(
    make_app: Callable[..., Flask],
) -> None:
    mcp = Mcp(make_app(MODELS="flux-1-schnell").test_client())
    status, error, _ = mcp.error(*call("edit_image", {"prompt": "x", "images": ["data:,"]}))
    assert (status, error["code"], error["message"]) == (400, -32602, "Unknown tool: edit_image")


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"DAILY_NEURON_BUDGET": "100"}, "DAILY_NEURON_BUDGET=100"),
        ({"DAILY_NEURON_BUDGET_PER_KEY": "100"}, "DAILY_NEURON_BUDGET_PER_KEY=100"),
    ],
)
def test_a_spent_budget_is_a_tool_error_and_nothing_is_drawn(
    make_app: Callable[..., Flask], standin: Standin, settings: dict, words: str
) -> None:
    mcp = Mcp(make_app(**settings).test_client())
    result = mcp.call("generate_image", {"prompt": "a fox"})
    assert result["isError"] is True
    assert words in result["content"][0]["text"]
    assert standin.received() == []


def test_rate_limit_counts_mcp_pictures_as_any_other(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    mcp = Mcp(make_app(RATE_LIMIT="2/minute").test_client())
    assert "isError" not in mcp.call("generate_image", {"prompt": "a fox", "n": 2})
    refused = mcp.call("generate_image", {"prompt": "a fox"})
    assert refused["isError"] is True
    assert "RATE_LIMIT" in refused["content"][0]["text"]
    assert len(standin.received()) == 2


def test_bad_tool_calls_count_as_refused_requests(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    mcp = Mcp(make_app(RATE_LIMIT="1/minute").test_client())
    for _ in range(10):  # ten times RATE_LIMIT, as for any other refused request
        assert mcp.call("generate_image", {"prompt": "a fox", "n": 9})["isError"] is True
    status, error, _ = mcp.error(*call("generate_image", {"prompt": "a fox"}))
    assert (status, error["code"]) == (429, -32600)
    assert "requests refused as bad" in error["message"]
    assert standin.received() == []


def test_workers_ai_down_is_a_tool_error_in_the_services_words(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    mcp = Mcp(make_app(UPSTREAM_TIMEOUT="0.15").test_client())  # tried again that long
    standin.fail(*[{"kind": "error", "status": 500, "code": 3043, "message": "Internal"}] * 20)
    result = mcp.call("generate_image", {"prompt": "a fox"})
    assert result["isError"] is True
    assert "Workers AI" in result["content"][0]["text"]
    assert "structuredContent" not in result


def test_a_second_account_draws_when_the_first_is_out_of_allocation(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    accounts = f"{DEFAULT_ACCOUNT}:{STANDIN_TOKEN},{SECOND_ACCOUNT}:{SECOND_TOKEN}"
    mcp = Mcp(make_app(CF_ACCOUNTS=accounts).test_client())
    standin.fail(DAILY)
    result = mcp.call("generate_image", {"prompt": "a fox"})
    assert "isError" not in result
    assert [entry["account"] for entry in standin.received()] == [DEFAULT_ACCOUNT, SECOND_ACCOUNT]
