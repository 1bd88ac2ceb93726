"""Edits: images attached to a chat or uploaded to /v1/images/edits reach the model in the
fields it takes them in, at the size it takes, and the answer says what was used."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import pytest
from flask import Flask
from PIL import Image, ImageDraw
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import TestResponse, encode_multipart

from tests.helpers import AUTH, Standin, image_url
from tests.inprocess.api import Api
from tests.pictures import data_uri, difference, encoded, pattern, recorded, thumbnail

KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"
PHOTO = pattern(1200, 800)
# Where the stand-in writes the prompt on a 512x512 picture it draws from an image.
PROMPT_AREA = (20, 250, 150, 280)


def chat_with(prompt: str, *urls: str) -> list[dict]:
    parts = [{"type": "text", "text": prompt}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return [{"role": "user", "content": parts}]


def test_an_attached_image_is_edited_by_flux2(api: Api, standin: Standin) -> None:
    response = api.post(
        "/v1/chat/completions",
        {
            "model": "flux-1-schnell",
            "messages": chat_with("make the sun red", data_uri(encoded(PHOTO))),
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    content = response.get_json()["choices"][0]["message"]["content"]
    (sent,) = standin.received()
    assert sent["model"] == KLEIN  # schnell takes no images: the first served model that does
    assert sent["content_type"] == "multipart/form-data"
    assert sent["inputs"]["input_image_0"].endswith("bytes>")
    (received,) = sent["images"]
    assert (received["width"], received["height"]) == (511, 341)  # under 512, ratio kept
    assert difference(recorded(received), thumbnail(PHOTO)) < 4
    assert (sent["inputs"]["width"], sent["inputs"]["height"]) == (1024, 688)
    assert "Images worked from: attached (1200x800)" in content
    assert "Model: flux-2-klein-4b" in content
    assert "Image size: 1024x683" in content  # the photo's proportions
    result = api.image(image_url(content))
    assert result.size == (1024, 683)
    assert difference(result, PHOTO) < 30  # the stand-in drew on the photo


def test_client_markup_is_not_the_prompt(api: Api, standin: Standin) -> None:
    text = (
        'make it night <attached_files><file type="image" url="/api/v1/files/1" name="a.png"/>'
        "</attached_files>"
    )
    api.post("/v1/chat/completions", {"messages": chat_with(text, data_uri(encoded(PHOTO)))})
    assert standin.received()[0]["inputs"]["prompt"] == "make it night"


@pytest.mark.parametrize(
    ("field", "names"),
    [("image", ["blob"]), ("image[]", ["image.png", "b.png"]), ("image", ["1.png", "2.jpg"])],
    ids=["one-image", "image[]-twice", "image-repeated"],
)
def test_uploads_in_every_shape_real_clients_send(
    api: Api, standin: Standin, field: str, names: list[str]
) -> None:
    png = encoded(PHOTO)
    fields = MultiDict({"prompt": "add a moon", "model": "", "n": "1", "size": "512x512"})
    for name in names:
        fields.add(field, FileStorage(io.BytesIO(png), name))
    response = post_form(api, fields)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert api.picture(response.get_json()["data"][0]).size == (512, 512)
    (sent,) = standin.received()
    assert sent["model"] == KLEIN
    assert len(sent["images"]) == len(names)
    for received in sent["images"]:
        assert difference(recorded(received), thumbnail(PHOTO)) < 4


def post_form(api: Api, fields: MultiDict) -> TestResponse:
    """A multipart POST to /v1/images/edits, encoded in memory (the test client would spool
    a large one to a file it never closes)."""
    boundary, body = encode_multipart(fields)
    return api.client.post(
        "/v1/images/edits",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=AUTH,
    )


def upload(api: Api, png: bytes, mask: bytes | None = None, **form: str) -> TestResponse:
    fields = MultiDict({"prompt": "add a moon", **form})
    fields.add("image", FileStorage(io.BytesIO(png), "a.png"))
    if mask is not None:
        fields.add("mask", FileStorage(io.BytesIO(mask), "mask.png"))
    return post_form(api, fields)


def hole(width: int, height: int, box: tuple[int, int, int, int]) -> bytes:
    """An OpenAI mask: opaque, with the area to change (`box`) transparent."""
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    ImageDraw.Draw(mask).rectangle(box, fill=(0, 0, 0, 0))
    return encoded(mask)


def test_a_mask_for_flux2_keeps_the_image_outside_it(api: Api, standin: Standin) -> None:
    photo = pattern(512, 512)
    response = upload(api, encoded(photo), hole(512, 512, (0, 0, 255, 511)), size="512x512")
    assert response.status_code == 200, response.get_data(as_text=True)
    result = api.picture(response.get_json()["data"][0])
    right = (300, 0, 512, 512)  # outside the hole: the photo as it was
    assert difference(result.crop(right), photo.crop(right)) < 3
    # Inside it, what the model drew: the stand-in writes the prompt there.
    assert difference(result.crop(PROMPT_AREA), photo.crop(PROMPT_AREA)) > 20
    assert standin.received()[0]["images"]  # the model saw the photo


def test_sd_inpainting_gets_the_mask_white_where_it_was_transparent(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    api = Api(make_app(MODELS="flux-1-schnell,sd-1.5-inpainting").test_client())
    photo = pattern(512, 512)
    mask = hole(512, 512, (0, 0, 255, 511))
    response = upload(api, encoded(photo), mask, size="512x512", model="sd-1.5-inpainting")
    assert response.status_code == 200, response.get_data(as_text=True)
    (sent,) = standin.received()
    assert sent["model"] == "@cf/runwayml/stable-diffusion-v1-5-inpainting"
    assert (sent["inputs"]["width"], sent["inputs"]["height"]) == (512, 512)
    got = recorded(sent["mask"])
    assert got.getpixel((2, 8)) == (255, 255, 255)  # the hole: paint here
    assert got.getpixel((13, 8)) == (0, 0, 0)
    assert difference(recorded(sent["images"][0]), thumbnail(photo)) < 4


def test_sd_img2img_moves_from_the_image_by_strength(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    api = Api(make_app(MODELS="flux-1-schnell", EDIT_MODEL="sd-1.5-img2img").test_client())
    response = upload(api, encoded(pattern(768, 512)))
    assert response.status_code == 200, response.get_data(as_text=True)
    (sent,) = standin.received()
    assert sent["model"] == "@cf/runwayml/stable-diffusion-v1-5-img2img"
    assert sent["inputs"]["strength"] == 0.75
    # SD takes sides in steps of 8: asked 1024x688, the answer cut to the photo's 1024x683.
    assert (sent["inputs"]["width"], sent["inputs"]["height"]) == (1024, 688)
    assert (sent["images"][0]["width"], sent["images"][0]["height"]) == (1024, 688)
    assert api.picture(response.get_json()["data"][0]).size == (1024, 683)


def test_with_no_model_that_edits_a_400_names_the_setting(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    api = Api(make_app(MODELS="flux-1-schnell").test_client())
    response = upload(api, encoded(PHOTO))
    assert response.status_code == 400
    assert "EDIT_MODEL" in response.get_json()["error"]["message"]
    assert standin.received() == []


def test_a_model_that_needs_an_image_says_so_without_one(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    api = Api(make_app(MODELS="flux-1-schnell,sd-1.5-img2img").test_client())
    response = api.chat("a castle", model="sd-1.5-img2img")
    assert response.status_code == 400
    assert "draws from an image only" in response.get_json()["error"]["message"]
    assert standin.received() == []


def test_five_images_are_more_than_flux2_takes(api: Api, standin: Standin) -> None:
    uri = data_uri(encoded(pattern(64, 64)))
    response = api.post("/v1/chat/completions", {"messages": chat_with("mix", *[uri] * 5)})
    assert response.status_code == 400
    assert "at most 4 images; this request sends 5" in response.get_json()["error"]["message"]
    assert standin.received() == []


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with almost no data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0"))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"hello, not a picture", "not an image"),
        (encoded(PHOTO)[:3000], "truncated or damaged"),
        (png_claiming(8000, 7000), "56 megapixels; at most 50"),
        (png_claiming(30000, 30000), "more than 50 megapixels"),
        (encoded(PHOTO, "BMP"), "BMP images are not taken"),
    ],
    ids=["not-an-image", "truncated", "over-50-mp", "bomb", "bmp"],
)
def test_bad_images_get_a_400_that_says_why(
    api: Api, standin: Standin, data: bytes, words: str
) -> None:
    for response in (
        upload(api, data),
        api.post("/v1/chat/completions", {"messages": chat_with("x", data_uri(data))}),
    ):
        assert response.status_code == 400, response.get_data(as_text=True)
        error = response.get_json()["error"]
        assert words in error["message"]
        assert error["code"] == "invalid_image"
    assert standin.received() == []
    assert upload(api, encoded(PHOTO)).status_code == 200


def test_awkward_images_are_converted(api: Api, standin: Standin) -> None:
    rgba = PHOTO.convert("RGBA")
    deep = PHOTO.convert("L").convert("I").point(lambda v: v * 257).convert("I;16")  # 16 bits
    for data in (
        encoded(PHOTO.convert("CMYK"), "JPEG"),
        encoded(rgba),
        encoded(deep),
        encoded(PHOTO.convert("P")),
        encoded(PHOTO, "WEBP"),
    ):
        assert upload(api, data).status_code == 200
    images = [entry["images"][0] for entry in standin.received()]
    assert difference(recorded(images[0]), thumbnail(PHOTO)) < 8  # CMYK JPEG
    assert difference(recorded(images[1]), thumbnail(PHOTO)) < 4
    assert difference(recorded(images[2]), thumbnail(PHOTO.convert("L"))) < 4
    assert difference(recorded(images[3]), thumbnail(PHOTO)) < 8
    assert difference(recorded(images[4]), thumbnail(PHOTO)) < 8


def test_an_animated_gif_gives_its_first_frame_and_says_so(api: Api, standin: Standin) -> None:
    frames = [pattern(300, 200, seed) for seed in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    text = api.answer(
        "make it night", messages=chat_with("make it night", data_uri(out.getvalue()))
    )
    assert "attached (300x200), its first frame" in text
    assert difference(recorded(standin.received()[0]["images"][0]), thumbnail(frames[0])) < 8


def test_a_photo_turned_by_exif_is_used_upright(api: Api, standin: Standin) -> None:
    sideways = PHOTO.rotate(90, expand=True)  # 800x1200 as stored; upright it is 1200x800
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90° clockwise to view"
    data = encoded(sideways, "JPEG", exif=exif.tobytes(), quality=95)
    text = api.answer("x", messages=chat_with("make it night", data_uri(data, "image/jpeg")))
    assert "attached (1200x800)" in text
    assert "Image size: 1024x683" in text
    assert difference(recorded(standin.received()[0]["images"][0]), thumbnail(PHOTO)) < 8


def test_a_mask_of_another_size_is_stretched_to_the_image(api: Api) -> None:
    photo = pattern(512, 512)
    small_mask = hole(256, 256, (0, 0, 127, 255))  # the left half, at half the size
    response = upload(api, encoded(photo), small_mask, size="512x512")
    assert response.status_code == 200, response.get_data(as_text=True)
    result = api.picture(response.get_json()["data"][0])
    right = (300, 0, 512, 512)
    assert difference(result.crop(right), photo.crop(right)) < 3
    assert difference(result.crop(PROMPT_AREA), photo.crop(PROMPT_AREA)) > 20


def test_a_mask_without_transparency_is_refused(api: Api, standin: Standin) -> None:
    response = upload(api, encoded(PHOTO), encoded(Image.new("RGB", (1200, 800))))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["param"], error["code"]) == ("mask", "invalid_mask")
    assert standin.received() == []


def conversation(first: str, answer: str, follow_up: str) -> list[dict]:
    return [
        {"role": "user", "content": first},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": follow_up},
    ]


@pytest.fixture
def optimized(make_app: Callable[..., Flask]) -> Api:
    return Api(make_app(PROMPT_OPTIMIZATION="true").test_client())


def test_a_follow_up_that_changes_the_image_edits_it(optimized: Api, standin: Standin) -> None:
    first = optimized.answer("a lighthouse at dusk 3:2")
    drawn = optimized.image(image_url(first))
    text = optimized.answer(
        "x", messages=conversation("a lighthouse at dusk 3:2", first, "make the sky red")
    )
    asked = standin.received(optimizer=True)[-1]["messages"][-1]["content"]
    drawing = standin.received()[-1]
    assert "Drawn from: a lighthouse at dusk\n" in asked
    assert "New message: make the sky red" in asked
    assert drawing["model"] == KLEIN
    assert drawing["inputs"]["prompt"] == "Edit: make the sky red"
    assert difference(recorded(drawing["images"][0]), thumbnail(drawn)) < 6
    assert "Images worked from: the image above (768x512)" in text
    assert "Image size: 1024x683" in text


def test_a_follow_up_about_something_else_draws_anew(optimized: Api, standin: Standin) -> None:
    first = optimized.answer("a lighthouse at dusk")
    text = optimized.answer("x", messages=conversation("a lighthouse", first, "a fox in the snow"))
    drawing = standin.received()[-1]
    assert drawing["model"] == "@cf/black-forest-labs/flux-1-schnell"
    assert drawing["images"] == []
    assert drawing["inputs"]["prompt"] == "A richly detailed image of a fox in the snow"
    assert "Images worked from" not in text
    # The first prompt was rewritten; the follow-up's was written as it was decided.
    assert len(standin.received(optimizer=True)) == 2


def test_without_the_optimizer_a_follow_up_draws_from_its_words(api: Api, standin: Standin) -> None:
    first = api.answer("a lighthouse at dusk")
    text = api.answer("x", messages=conversation("a lighthouse", first, "make the sky red"))
    drawing = standin.received()[-1]
    assert drawing["images"] == []
    assert drawing["inputs"]["prompt"] == "make the sky red"
    assert "Images worked from" not in text


def test_our_own_image_sent_back_is_read_from_the_store(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    api = Api(make_app(FETCH_IMAGE_URLS="false").test_client())
    first = api.answer("a lighthouse at dusk")
    drawn = api.image(image_url(first))
    text = api.answer("x", messages=chat_with("make it night", image_url(first)))
    assert difference(recorded(standin.received()[-1]["images"][0]), thumbnail(drawn)) < 6
    assert "Images worked from: the image above (1024x1024)" in text
