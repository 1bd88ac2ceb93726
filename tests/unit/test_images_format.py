"""Reading Images API requests, generations (JSON) and edits (multipart), and their answers."""

import pytest
from werkzeug.datastructures import MultiDict

from flux_service.errors import InvalidRequestError
from flux_service.wire.images import (
    Delivered,
    image_event,
    image_item,
    images_body,
    parse_edit_request,
    parse_images_request,
)


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({}, "prompt", "non-empty string"),
        ({"prompt": " \n "}, "prompt", "non-empty string"),
        ({"prompt": 7}, "prompt", "string"),
        ({"prompt": "x", "n": 0}, "n", "between 1 and 4"),
        ({"prompt": "x", "n": 5}, "n", "between 1 and 4"),
        ({"prompt": "x", "n": 1.5}, "n", "whole number"),
        ({"prompt": "x", "size": "1024"}, "size", "WIDTHxHEIGHT"),
        ({"prompt": "x", "size": "32x32"}, "size", "from 64 to 8192"),
        ({"prompt": "x", "size": " 1024x1024"}, "size", "WIDTHxHEIGHT"),
        ({"prompt": "x", "size": 1024}, "size", "string"),
        ({"prompt": "x", "seed": 2**32}, "seed", "between 0 and"),
        ({"prompt": "x", "response_format": "png"}, "response_format", "`url` or `b64_json`"),
        ({"prompt": "x", "output_format": "gif"}, "output_format", "`png`, `jpeg` or `webp`"),
        ({"prompt": "x", "quality": "ultra"}, "quality", "`low`, `medium`, `high` or `auto`"),
        ({"prompt": "x", "background": "clear"}, "background", "`opaque` or `transparent`"),
        ({"prompt": "x", "stream": "yes"}, "stream", "boolean"),
    ],
)
def test_bad_images_bodies_name_what_is_wrong(body: dict, param: str, words: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_images_request(body)
    assert caught.value.param == param
    assert words in caught.value.message


def test_whole_numbers_may_be_written_as_floats() -> None:
    request = parse_images_request({"prompt": "x", "n": 2.0, "seed": 7.0})
    assert (request.n, request.seed) == (2, 7)


def test_images_sizes_read_either_x() -> None:
    assert parse_images_request({"prompt": "x", "size": "1280X720"}).size == (1280, 720)
    assert parse_images_request({"prompt": "x", "size": "auto"}).size is None


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (None, "b64_json"),
        ("", "b64_json"),
        ("flux", "b64_json"),
        ("gpt-image-1", "b64_json"),
        ("gpt-image-1.5", "b64_json"),
        ("dall-e-2", "url"),
        ("dall-e-3", "url"),
    ],
)
def test_base64_by_default_but_for_dall_e(model: str | None, expected: str) -> None:
    assert parse_images_request({"prompt": "x", "model": model}).response_format == expected


def test_an_explicit_response_format_wins() -> None:
    assert parse_images_request({"prompt": "x", "response_format": "url"}).response_format == "url"
    asked = {"prompt": "x", "model": "dall-e-3", "response_format": "b64_json"}
    assert parse_images_request(asked).response_format == "b64_json"


def test_gpt_image_models_answer_in_png_unless_asked_otherwise() -> None:
    assert parse_images_request({"prompt": "x", "model": "gpt-image-1"}).mime == "image/png"
    asked = {"prompt": "x", "model": "gpt-image-1-mini", "output_format": "webp"}
    assert parse_images_request(asked).mime == "image/webp"
    assert parse_images_request({"prompt": "x", "model": "dall-e-3"}).mime is None


@pytest.mark.parametrize(
    ("quality", "expected"),
    [("auto", None), ("standard", None), ("medium", "medium"), ("low", "low"), ("hd", "high")],
)
def test_quality_words_of_both_vocabularies(quality: str, expected: str | None) -> None:
    assert parse_images_request({"prompt": "x", "quality": quality}).quality == expected


def test_an_empty_model_is_no_choice() -> None:
    assert parse_images_request({"prompt": "x", "model": ""}).model is None


def form(**fields: str) -> MultiDict[str, str]:
    return MultiDict(list(fields.items()))


@pytest.mark.parametrize("name", ["image", "image[]"])
def test_an_edit_takes_its_image_under_either_name(name: str) -> None:
    request = parse_edit_request(form(prompt="red"), MultiDict([(name, b"one")]))
    assert request.images == (b"one",)
    assert request.mask is None


def test_a_repeated_image_keeps_its_order_and_the_mask_is_separate() -> None:
    files = MultiDict([("image", b"one"), ("image", b"two"), ("mask", b"m")])
    request = parse_edit_request(form(prompt="red"), files)
    assert request.images == (b"one", b"two")
    assert request.mask == b"m"


def test_numbers_and_booleans_arrive_as_text_and_an_empty_model_is_none() -> None:
    request = parse_edit_request(
        form(prompt="red", n="2", seed="42", model="", size="512x768", stream="True"),
        MultiDict([("image", b"x")]),
    )
    assert (request.n, request.seed, request.model, request.size) == (2, 42, None, (512, 768))
    assert request.stream


@pytest.mark.parametrize(
    ("fields", "param", "words"),
    [
        ({"prompt": "red", "n": "two"}, "n", "number"),
        ({"prompt": "red", "n": "9"}, "n", "between 1 and 4"),
        ({"prompt": "red", "seed": "-1"}, "seed", "between 0 and"),
        ({"n": "1"}, "prompt", "non-empty string"),
        ({"prompt": "red", "stream": "1"}, "stream", "boolean"),
    ],
)
def test_bad_edit_fields_name_what_is_wrong(fields: dict, param: str, words: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_edit_request(form(**fields), MultiDict([("image", b"x")]))
    assert caught.value.param == param
    assert words in caught.value.message


def test_an_edit_without_an_image_says_how_to_send_one() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_edit_request(form(prompt="red"), MultiDict([("picture", b"x")]))
    assert caught.value.param == "image"
    assert "`image`" in caught.value.message


def test_answers_carry_a_url_or_the_bytes() -> None:
    assert image_item(b"png", "http://x/image/a", None) == {"url": "http://x/image/a"}
    assert image_item(b"png", None, "a cat") == {"b64_json": "cG5n", "revised_prompt": "a cat"}
    delivered = Delivered(1024, 576, "image/jpeg", "medium", "a red fox")
    assert images_body(7, [], delivered) == {
        "created": 7,
        "data": [],
        "size": "1024x576",
        "output_format": "jpeg",
        "quality": "medium",
        "background": "opaque",
        "usage": {
            "input_tokens": 3,
            "input_tokens_details": {"text_tokens": 3, "image_tokens": 0},
            "output_tokens": 0,
            "total_tokens": 3,
        },
    }


def test_an_image_event_carries_the_picture_and_what_it_is() -> None:
    delivered = Delivered(512, 512, "image/png", "low", "x")
    event = image_event("image_edit", 7, b"png", delivered)
    assert event["type"] == "image_edit.completed"
    assert (event["b64_json"], event["created_at"], event["size"]) == ("cG5n", 7, "512x512")
    assert (event["output_format"], event["quality"], event["background"]) == (
        "png",
        "low",
        "opaque",
    )
