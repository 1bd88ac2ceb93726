"""Previews: a stored image as a tool result shows it inline, small enough for any client.

Agents pass a tool's images on to their model, and models take images within limits:
Claude reads at most 1568 pixels a side and 5 MB an image, OpenAI's models scale anything
to 2048 and then to 768 on the short side, and local vision models often read JPEG and PNG
alone. A preview is at most PREVIEW_SIDE pixels a side and PREVIEW_BYTES large, in one of
those two formats: a stored JPEG or PNG within both limits is shown as it is (FLUX.1
schnell's 1024x1024 JPEG, most often: no work at all), anything else is shrunk, its ratio
kept, and encoded as a JPEG (transparency shows white). The full picture stays at its link.
"""

from __future__ import annotations

from PIL import Image

from .codec import EncodedImage, decode
from .inputs import flattened, jpeg_bytes

PREVIEW_SIDE = 1024
PREVIEW_BYTES = 1024 * 1024
PREVIEW_TYPES = ("image/jpeg", "image/png")
PREVIEW_QUALITY = 85


def needs_preview(image: EncodedImage) -> bool:
    """Whether `image` is too large, or of a format too rare, to be shown as it is."""
    return (
        image.mime not in PREVIEW_TYPES
        or max(image.width, image.height) > PREVIEW_SIDE
        or len(image.data) > PREVIEW_BYTES
    )


def preview(image: EncodedImage) -> EncodedImage:
    """`image` as a tool result shows it: itself when it may be, else a JPEG within
    PREVIEW_SIDE a side (Pillow's work: run it off the event loop)."""
    if not needs_preview(image):
        return image
    decoded = decode(image)
    if decoded.mode not in ("RGB", "L"):
        decoded = flattened(decoded.convert("RGBA"))
    decoded.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS)
    data = jpeg_bytes(decoded, PREVIEW_QUALITY)
    return EncodedImage(data, "image/jpeg", decoded.width, decoded.height)
