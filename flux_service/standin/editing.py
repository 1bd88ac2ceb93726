"""How the stand-in works from the images it is sent, as strictly as the real models.

FLUX.2 takes up to four file parts named exactly `input_image_0` … `input_image_3`, each
smaller than 512x512. Stable Diffusion 1.5 img2img takes `image`, the bytes of a PNG or
JPEG file as a list of numbers; inpainting takes a `mask` the same way and refuses to draw
without one (code 3030, as the real one does). What it draws is made of what it got, so a
test can tell the images were used: the first image fills the picture (where an inpainting
mask is black), the others sit in its corners, and the prompt is written over it.
"""

from __future__ import annotations

import base64
import io

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

REFERENCES = tuple(f"input_image_{n}" for n in range(4))
REFERENCE_LIMIT = 512  # "each input image must be smaller than 512x512"
THUMBNAIL = (16, 16)  # what the stand-in records of each image, to compare pixels with


class InputProblem(ValueError):
    """An image input the real model would refuse; `code` is Workers AI's error code."""

    def __init__(self, message: str, code: int = 5006) -> None:
        super().__init__(message)
        self.code = code


def read_images(
    kind: str, inputs: dict[str, object]
) -> tuple[list[Image.Image], Image.Image | None]:
    """The images (and mask) in `inputs` for a model that takes them as `kind`."""
    if kind == "references":
        images = [_open(name, inputs[name]) for name in REFERENCES if name in inputs]
        for name, image in zip((n for n in REFERENCES if n in inputs), images, strict=True):
            if max(image.size) >= REFERENCE_LIMIT:
                width, height = image.size
                raise InputProblem(
                    f"{name} is {width}x{height}: each input image must be smaller than 512x512"
                )
        return images, None
    if "image" not in inputs:
        raise InputProblem(
            "AiError: Model input is not valid: missing required input image", code=3030
        )
    image = _open("image", _file_bytes("image", inputs["image"]))
    if kind != "inpainting":
        return [image], None
    if "mask" not in inputs:
        raise InputProblem(
            "AiError: Model input is not valid: missing required input mask_image", code=3030
        )
    return [image], _open("mask", _file_bytes("mask", inputs["mask"])).convert("L")


def record(image: Image.Image) -> dict[str, object]:
    """What a test may check of an image the stand-in got: its size and a thumbnail."""
    thumbnail = image.convert("RGB").resize(THUMBNAIL, Image.Resampling.BOX)
    return {
        "width": image.width,
        "height": image.height,
        "thumbnail": base64.b64encode(thumbnail.tobytes()).decode(),
    }


def draw_from(
    images: list[Image.Image],
    mask: Image.Image | None,
    painted: Image.Image,
    prompt: str,
) -> Image.Image:
    """The picture made of `images`: the first fills it (only where `mask` is black, the
    freshly `painted` picture showing where it is white), the others in its corners."""
    size = painted.size
    picture = ImageOps.fit(images[0].convert("RGB"), size, Image.Resampling.LANCZOS)
    if mask is not None:
        area = mask.resize(size, Image.Resampling.NEAREST).point(lambda v: 255 if v >= 128 else 0)
        picture = Image.composite(painted.convert("RGB"), picture, area)
    corners = [(0, 0), (size[0] * 3 // 4, 0), (0, size[1] * 3 // 4)]
    for extra, corner in zip(images[1:], corners, strict=False):
        picture.paste(ImageOps.fit(extra.convert("RGB"), (size[0] // 4, size[1] // 4)), corner)
    pen = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=max(12, min(size) // 24))
    pen.text((size[0] // 20, size[1] // 2), prompt[:60], fill="white", font=font,
             stroke_width=2, stroke_fill="black")  # fmt: skip
    return picture


def _file_bytes(name: str, value: object) -> bytes:
    if not isinstance(value, list) or not all(isinstance(v, int) and 0 <= v <= 255 for v in value):
        raise InputProblem(f"Type mismatch of '/{name}': expected an array of numbers 0 to 255")
    return bytes(value)


def _open(name: str, data: object) -> Image.Image:
    if not isinstance(data, bytes):
        raise InputProblem(f"Type mismatch of '/{name}': expected a file")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError):
        raise InputProblem(f"{name} is not an image the model can read") from None
    return image
