"""Reading the images clients send: upright, checked, converted, and shrunk no further than
needed; and turning OpenAI's mask into the area to change."""

import io

import pytest
from PIL import Image

from flux_service.generation.inputs import (
    InputImageError,
    change_area,
    keep_outside,
    read_input_image,
    reference_jpeg,
)
from tests.pictures import difference, encoded, pattern

PHOTO = pattern(1200, 800)


def test_a_jpeg_is_decoded_at_a_reduced_scale_and_keeps_its_own_size() -> None:
    read = read_input_image(encoded(PHOTO, "JPEG", quality=95), 300)
    assert (read.width, read.height, read.format) == (1200, 800, "JPEG")
    assert read.image.size == (300, 200)
    assert difference(read.image, PHOTO) < 4


def test_a_small_image_is_not_made_larger() -> None:
    read = read_input_image(encoded(pattern(200, 100)), 511)
    assert read.image.size == (200, 100)


@pytest.mark.parametrize(
    ("orientation", "rotate"), [(3, 180), (6, 90), (8, 270)], ids=["180", "90-cw", "90-ccw"]
)
def test_exif_rotation_is_applied(orientation: int, rotate: int) -> None:
    stored = PHOTO.rotate(rotate, expand=True)  # what a camera wrote, to be turned back
    exif = Image.Exif()
    exif[0x0112] = orientation
    read = read_input_image(encoded(stored, "JPEG", exif=exif.tobytes(), quality=95), 1200)
    assert (read.width, read.height) == (1200, 800)
    assert difference(read.image, PHOTO) < 6


def test_transparency_is_kept_and_flattened_on_white_for_a_reference() -> None:
    clear = Image.new("RGBA", (64, 64), (255, 0, 0, 0))
    read = read_input_image(encoded(clear), 64)
    assert read.has_alpha
    reference = Image.open(io.BytesIO(reference_jpeg(read, 511)))
    assert reference.format == "JPEG"
    assert reference.convert("RGB").getpixel((32, 32)) == pytest.approx((255, 255, 255), abs=3)


def test_a_reference_fits_the_models_limit_with_its_ratio() -> None:
    read = read_input_image(encoded(PHOTO), 2048)
    assert Image.open(io.BytesIO(reference_jpeg(read, 511))).size == (511, 341)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "not an image"),
        (b"%PDF-1.7", "not an image"),
        (encoded(PHOTO, "TIFF"), "TIFF images are not taken"),
        (encoded(PHOTO)[:1000], "truncated or damaged"),
        (encoded(Image.new("1", (9000, 6000))), "54 megapixels"),
    ],
)
def test_unusable_files_say_why(data: bytes, words: str) -> None:
    with pytest.raises(InputImageError, match=words):
        read_input_image(data, 511)


def test_an_openai_mask_becomes_white_where_it_was_transparent() -> None:
    mask = Image.new("RGBA", (100, 50), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 50, 50))
    area = change_area(read_input_image(encoded(mask), 100), 200, 100)  # stretched to fit
    assert area.size == (200, 100)
    assert (area.getpixel((10, 10)), area.getpixel((190, 10))) == (255, 0)


def test_outside_the_area_the_original_is_kept() -> None:
    drawn, original = Image.new("RGB", (4, 1), "red"), Image.new("RGB", (4, 1), "blue")
    area = Image.new("L", (4, 1), 0)
    area.putpixel((0, 0), 255)
    kept = keep_outside(drawn, original, area)
    assert [kept.getpixel((x, 0)) for x in range(4)] == [(255, 0, 0)] + [(0, 0, 255)] * 3
