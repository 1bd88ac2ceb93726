"""Pictures: what the bytes really are, and fitting them to the exact size asked for."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"image/jpeg": "jpeg", "image/png": "png", "image/webp": "webp"}
_SAVE_OPTIONS = {
    "JPEG": {"quality": 95},
    "PNG": {"compress_level": 4},
    "WEBP": {"quality": 95},
}
_PNG_END = b"IEND\xaeB`\x82"


class ImageError(ValueError):
    """The bytes are not a whole picture in a format we serve."""


@dataclass(frozen=True)
class Picture:
    """Encoded picture bytes with their real type and pixel size."""

    data: bytes
    mime: str
    width: int
    height: int

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


def sniff_mime(data: bytes) -> str | None:
    """The picture type named by the first bytes, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def read_picture(data: bytes) -> Picture:
    """Check that `data` is a complete JPEG, PNG or WebP and read its size (no decoding)."""
    mime = sniff_mime(data)
    if mime is None:
        raise ImageError("not a JPEG, PNG or WebP picture")
    # A cut-off download keeps a valid header; the trailer tells us it is whole.
    if not _has_trailer(data, mime):
        raise ImageError("the picture is truncated")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ImageError("the picture cannot be read") from error
    return Picture(data, mime, width, height)


def fit_picture(picture: Picture, width: int, height: int, mime: str | None = None) -> Picture:
    """`picture` centre-cropped to the ratio of width:height and resized to exactly that.

    `mime` re-encodes to another type; by default the picture keeps its own.
    """
    mime = mime or picture.mime
    if (picture.width, picture.height) == (width, height) and mime == picture.mime:
        return picture
    fmt = next(name for name, known in FORMATS.items() if known == mime)
    try:
        with Image.open(io.BytesIO(picture.data)) as image:
            fitted = ImageOps.fit(image, (width, height), method=Image.Resampling.LANCZOS)
    except (OSError, ValueError) as error:
        raise ImageError("the picture cannot be decoded") from error
    if fmt == "JPEG" and fitted.mode not in ("RGB", "L"):
        fitted = fitted.convert("RGB")
    out = io.BytesIO()
    fitted.save(out, fmt, **_SAVE_OPTIONS[fmt])
    return Picture(out.getvalue(), mime, width, height)


def _has_trailer(data: bytes, mime: str) -> bool:
    tail = data[-64:]
    if mime == "image/jpeg":
        return b"\xff\xd9" in tail
    if mime == "image/png":
        return _PNG_END in tail
    # WebP states its own length in the RIFF header.
    return len(data) >= 12 and int.from_bytes(data[4:8], "little") + 8 <= len(data)
