"""Reading what images really are, and fitting them to an exact size."""

import io

import pytest
from PIL import Image

from flux_service.generation.codec import ImageError, fit_image, read_image, sniff_mime


def encode(fmt: str, size: tuple[int, int] = (64, 48), color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_the_type_comes_from_the_bytes(fmt: str, mime: str) -> None:
    data = encode(fmt)
    assert sniff_mime(data) == mime
    image = read_image(data)
    assert (image.mime, image.width, image.height) == (mime, 64, 48)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is not an image",
        b"\xff\xd8\xff" + b"\x00" * 100,
        encode("JPEG")[:200],
        encode("PNG")[:-20],
        encode("WEBP")[:-10],
    ],
)
def test_broken_or_cut_off_images_are_refused(data: bytes) -> None:
    with pytest.raises(ImageError):
        read_image(data)


def test_a_image_of_the_right_size_is_passed_through_untouched() -> None:
    image = read_image(encode("JPEG", (1024, 1024)))
    assert fit_image(image, 1024, 1024) is image


def bands(size: tuple[int, int]) -> Image.Image:
    """Three vertical bands (left red, middle green, right blue) of equal width."""
    image = Image.new("RGB", size)
    third = size[0] // 3
    image.paste((255, 0, 0), (0, 0, third, size[1]))
    image.paste((0, 255, 0), (third, 0, 2 * third, size[1]))
    image.paste((0, 0, 255), (2 * third, 0, size[0], size[1]))
    return image


def test_fitting_crops_the_centre_and_resizes_exactly() -> None:
    out = io.BytesIO()
    bands((900, 300)).save(out, "PNG")
    fitted = fit_image(read_image(out.getvalue()), 200, 400)
    assert (fitted.width, fitted.height, fitted.mime) == (200, 400, "image/png")
    image = Image.open(io.BytesIO(fitted.data)).convert("RGB")
    assert image.size == (200, 400)
    # A 1:2 crop of a 3:1 image keeps only the green middle band.
    for x in (5, 100, 195):
        assert image.getpixel((x, 200)) == (0, 255, 0)


def test_fitting_can_change_the_type() -> None:
    fitted = fit_image(read_image(encode("PNG", (100, 100))), 100, 100, "image/jpeg")
    assert fitted.mime == "image/jpeg"
    assert sniff_mime(fitted.data) == "image/jpeg"


def test_transparent_images_become_jpeg() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(out, "PNG")
    fitted = fit_image(read_image(out.getvalue()), 20, 20, "image/jpeg")
    assert Image.open(io.BytesIO(fitted.data)).mode == "RGB"
