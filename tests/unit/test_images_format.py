"""Reading Images API requests, generations (JSON) and edits (multipart), and their answers."""

import pytest
from werkzeug.datastructures import MultiDict

from flux_service.errors import InvalidRequestError
from flux_service.images_format import (
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


def test_gpt_image_models_default_to_base64() -> None:
    assert parse_images_request({"prompt": "x", "model": "gpt-image-1"}).response_format == (
        "b64_json"
    )
    assert parse_images_request({"prompt": "x", "model": "dall-e-3"}).response_format == "url"


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


def test_numbers_arrive_as_text_and_an_empty_model_is_none() -> None:
    request = parse_edit_request(
        form(prompt="red", n="2", seed="42", model="", size="512x768"),
        MultiDict([("image", b"x")]),
    )
    assert (request.n, request.seed, request.model, request.size) == (2, 42, None, (512, 768))


@pytest.mark.parametrize(
    ("fields", "param", "words"),
    [
        ({"prompt": "red", "n": "two"}, "n", "number"),
        ({"prompt": "red", "n": "9"}, "n", "between 1 and 4"),
        ({"prompt": "red", "seed": "-1"}, "seed", "between 0 and"),
        ({"n": "1"}, "prompt", "non-empty string"),
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
    assert images_body(7, []) == {"created": 7, "data": []}
