"""Images clients send to be worked from: read safely, turned upright, and shaped for the
model that takes them.

A photo straight from a phone is 12 megapixels of JPEG; the model wants at most 511 pixels a
side (FLUX.2) or the output's own size (Stable Diffusion). JPEGs are decoded at a reduced
scale from the start (Pillow's `draft`), so a 12 MP photo costs a fraction of its full
decode. Everything that can be wrong with an upload is an `InputImageError`, which the
pipeline answers with a 400 that says what.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, replace

from PIL import Image, ImageOps

MAX_PIXELS = 50_000_000  # more than any camera: past it, a decompression bomb or a mistake
FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "WEBP": "WebP", "GIF": "GIF"}
_FLATTEN_ON = (255, 255, 255)
_ORIENTATION = 0x0112  # the EXIF tag a camera turns its photos with
_QUARTER_TURNS = {5, 6, 7, 8}
# Pillow's filters all smooth in proportion when they shrink; bilinear does it in half the
# time Lanczos takes, and the models see no difference in a reference.
SHRINK = Image.Resampling.BILINEAR
REFERENCE_QUALITY = 95


class InputImageError(ValueError):
    """An uploaded image cannot be used; the message says why, for the client."""


@dataclass(frozen=True)
class InputImage:
    """An image a client sent, decoded upright at no more than the size needed."""

    image: Image.Image  # RGB, or RGBA when it has transparency
    width: int  # its own size, upright, before any scaling
    height: int
    format: str  # PNG, JPEG, WebP or GIF
    first_frame: bool = False  # it was animated: only its first frame is used
    digest: str = ""  # of the file's bytes: what an identical request sends (see reuse.py)

    @property
    def has_alpha(self) -> bool:
        return self.image.mode == "RGBA"


def read_input_image(data: bytes, need: int) -> InputImage:
    """Decode `data` upright, scaled down to `need` pixels on its longest side at most.

    Raises InputImageError for what is not a whole PNG, JPEG, WebP or GIF, for more than
    MAX_PIXELS, and for a file that is truncated or damaged.
    """
    try:
        opened = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise InputImageError(f"it has more than {MAX_PIXELS / 1e6:.0f} megapixels") from None
    except Exception:  # Pillow's readers fail in many ways on what is not an image
        raise InputImageError("it is not an image (send PNG, JPEG, WebP or GIF)") from None
    with opened:
        kind = FORMATS.get(opened.format or "")
        if kind is None:
            raise InputImageError(
                f"{opened.format} images are not taken; send PNG, JPEG, WebP or GIF"
            )
        width, height = opened.size
        if width * height > MAX_PIXELS:
            raise InputImageError(
                f"it has {width * height / 1e6:.0f} megapixels; "
                f"at most {MAX_PIXELS / 1e6:.0f} are taken"
            )
        animated = getattr(opened, "is_animated", False)
        if opened.format == "JPEG":
            # Decode at 1/2, 1/4 or 1/8 scale when that still gives `need` pixels a side.
            opened.draft("RGB", (need, need))
        try:
            opened.seek(0)
            opened.load()
            # A PNG may keep its EXIF after the pixels: read it once they are loaded.
            turned = opened.getexif().get(_ORIENTATION, 1) in _QUARTER_TURNS
            upright = ImageOps.exif_transpose(opened)
        except Exception:  # as above: a damaged file fails in whichever reader it reaches
            raise InputImageError("it is truncated or damaged") from None
    if turned:
        width, height = height, width  # upright, it is the other way round
    image = _rgb_or_rgba(upright)
    image.thumbnail((need, need), SHRINK)
    return InputImage(image, width, height, kind, animated, hashlib.sha256(data).hexdigest())


def _rgb_or_rgba(image: Image.Image) -> Image.Image:
    """`image` as RGB, or RGBA if it has any transparency (CMYK, 16-bit, palettes converted)."""
    if image.mode in ("RGB", "RGBA"):
        return image.copy()
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.point(lambda value: value / 256).convert("L")  # 16 bits down to 8
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def flattened(image: Image.Image) -> Image.Image:
    """`image` without transparency: what shows through is white."""
    if image.mode != "RGBA":
        return image
    flat = Image.new("RGB", image.size, _FLATTEN_ON)
    flat.paste(image, mask=image.getchannel("A"))
    return flat


def reference_jpeg(source: InputImage, max_side: int) -> bytes:
    """The image as a reference for FLUX.2: within `max_side` a side, its ratio kept, as a
    JPEG (a fortieth of the time a PNG of a photo takes to encode, and a third of its size)."""
    image = flattened(source.image)
    if max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), SHRINK)
    return jpeg_bytes(image, REFERENCE_QUALITY)


def fitted(source: InputImage, width: int, height: int) -> Image.Image:
    """The image centre-cropped to the ratio of width:height and resized to exactly that."""
    return ImageOps.fit(flattened(source.image), (width, height), Image.Resampling.LANCZOS)


def jpeg_bytes(image: Image.Image, quality: int = 92) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def change_area(mask: InputImage, width: int, height: int) -> Image.Image:
    """Where to paint, from an OpenAI mask: white where the mask is transparent, else black,
    at `width` x `height` (a mask of another size is stretched to fit)."""
    if not mask.has_alpha:
        raise InputImageError(
            "the mask has no transparency: make the area to change transparent (PNG with alpha)"
        )
    alpha = mask.image.getchannel("A").resize((width, height), Image.Resampling.NEAREST)
    return alpha.point(lambda value: 255 if value < 128 else 0)


def keep_outside(drawn: Image.Image, original: Image.Image, area: Image.Image) -> Image.Image:
    """`drawn` where `area` is white, `original` everywhere else: a mask applied after the
    fact, for models that take none."""
    return Image.composite(drawn.convert("RGB"), original.convert("RGB"), area)


def mask_from_white(white: InputImage, invert: bool = False) -> InputImage:
    """An AUTOMATIC1111 mask (white: paint here, black: keep; the other way round with
    `invert`) as an OpenAI one: transparent where to change."""
    gray = white.image.convert("L")  # as A1111 reads it: alpha ignored
    if invert:
        gray = ImageOps.invert(gray)
    mask = Image.new("RGBA", gray.size, (0, 0, 0, 255))
    mask.putalpha(gray.point(lambda value: 0 if value >= 128 else 255))
    # The same file marks another area read the A1111 way, or inverted: a digest of its own,
    # so that no request reuses a picture drawn for another.
    marks = "black" if invert else "white"
    return replace(white, image=mask, digest=f"{marks}:{white.digest}")
