"""Previews: what a tool result shows of a picture, small enough for any client."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from flux_service.generation.codec import EncodedImage, read_image
from flux_service.generation.previews import PREVIEW_BYTES, needs_preview, preview
from tests.pictures import difference, encoded, pattern


def stored(image: Image.Image, fmt: str, **options: object) -> EncodedImage:
    return read_image(encoded(image, fmt, **options))


@pytest.mark.parametrize(
    ("image", "fmt"),
    [(pattern(1024, 1024), "JPEG"), (pattern(1024, 576), "PNG"), (pattern(300, 200), "PNG")],
)
def test_a_small_jpeg_or_png_is_shown_as_it_is(image: Image.Image, fmt: str) -> None:
    picture = stored(image, fmt)
    assert not needs_preview(picture)
    assert preview(picture) is picture


@pytest.mark.parametrize(
    ("size", "fmt", "shown"),
    [
        ((1920, 1080), "PNG", (1024, 576)),
        ((1080, 1920), "JPEG", (576, 1024)),
        ((1024, 1024), "WEBP", (1024, 1024)),  # a format some vision models cannot read
    ],
)
def test_a_large_or_rare_picture_becomes_a_jpeg_within_1024_pixels(
    size: tuple[int, int], fmt: str, shown: tuple[int, int]
) -> None:
    picture = stored(pattern(*size), fmt)
    made = preview(picture)
    assert (made.mime, made.width, made.height) == ("image/jpeg", *shown)
    decoded = Image.open(io.BytesIO(made.data))
    assert decoded.size == shown
    assert difference(decoded, pattern(*shown)) < 4  # the same picture, smaller


def test_a_heavy_png_becomes_a_jpeg_even_within_1024_pixels() -> None:
    noise = Image.frombytes("RGB", (1024, 1024), bytes(range(256)) * (1024 * 1024 * 3 // 256))
    picture = stored(noise, "PNG", compress_level=0)
    assert len(picture.data) > PREVIEW_BYTES
    assert preview(picture).mime == "image/jpeg"


def test_transparency_shows_white() -> None:
    clear = Image.new("RGBA", (1200, 600), (0, 0, 0, 0))
    made = preview(stored(clear, "PNG"))
    assert (made.width, made.height) == (1024, 512)
    assert Image.open(io.BytesIO(made.data)).convert("RGB").getpixel((10, 10)) >= (250, 250, 250)
