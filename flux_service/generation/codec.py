"""Images: what the bytes really are, and fitting them to the exact size asked for."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_SAVE_OPTIONS = {
    "JPEG": {"quality": 95},
    "PNG": {"compress_level": 4},
    "WEBP": {"quality": 95},
}
_PNG_END = b"IEND\xaeB`\x82"


class ImageError(ValueError):
    """The bytes are not a whole image in a format we serve."""


@dataclass(frozen=True)
class EncodedImage:
    """Encoded image bytes with their real type and pixel size."""

    data: bytes
    mime: str
    width: int
    height: int


def sniff_mime(data: bytes) -> str | None:
    """The image type named by the first bytes, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def read_image(data: bytes) -> EncodedImage:
    """Check that `data` is a complete JPEG, PNG or WebP and read its size (no decoding)."""
    mime = sniff_mime(data)
    if mime is None:
        raise ImageError("not a JPEG, PNG or WebP image")
    # A cut-off download keeps a valid header; the trailer tells us it is whole.
    if not _has_trailer(data, mime):
        raise ImageError("the image is truncated")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ImageError("the image cannot be read") from error
    return EncodedImage(data, mime, width, height)


def decode(image: EncodedImage) -> Image.Image:
    """The pixels of `image`, decoded."""
    try:
        decoded = Image.open(io.BytesIO(image.data))
        decoded.load()
    except (OSError, ValueError) as error:
        raise ImageError("the image cannot be decoded") from error
    return decoded


def encode(image: Image.Image, mime: str) -> EncodedImage:
    """`image` encoded as `mime` (JPEG, PNG or WebP)."""
    fmt = next(name for name, known in FORMATS.items() if known == mime)
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, fmt, **_SAVE_OPTIONS[fmt])
    return EncodedImage(out.getvalue(), mime, image.width, image.height)


def fit_image(
    image: EncodedImage, width: int, height: int, mime: str | None = None
) -> EncodedImage:
    """`image` centre-cropped to the ratio of width:height and resized to exactly that.

    `mime` re-encodes to another type; by default the image keeps its own.
    """
    mime = mime or image.mime
    if (image.width, image.height) == (width, height) and mime == image.mime:
        return image
    fitted = ImageOps.fit(decode(image), (width, height), method=Image.Resampling.LANCZOS)
    return encode(fitted, mime)


def _has_trailer(data: bytes, mime: str) -> bool:
    tail = data[-64:]
    if mime == "image/jpeg":
        return b"\xff\xd9" in tail
    if mime == "image/png":
        return _PNG_END in tail
    # WebP states its own length in the RIFF header.
    return len(data) >= 12 and int.from_bytes(data[4:8], "little") + 8 <= len(data)


def fit_within(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled down, keeping the ratio, so neither side exceeds `max_side`."""
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    return max(1, round(width * max_side / longest)), max(1, round(height * max_side / longest))
