"""Images for tests to send, with patterns a comparison can tell apart, and the comparisons."""

from __future__ import annotations

import base64
import functools
import io

from PIL import Image, ImageChops, ImageDraw, ImageStat


def pattern(width: int, height: int, seed: int = 0) -> Image.Image:
    """Four coloured quarters and a bar: a picture whose shrunk copies still look like it."""
    colours = [(200, 40, 40), (40, 160, 60), (40, 60, 200), (220, 200, 40)]
    colours = colours[seed % 4 :] + colours[: seed % 4]
    image = Image.new("RGB", (width, height))
    pen = ImageDraw.Draw(image)
    half_w, half_h = width // 2, height // 2
    for index, (x, y) in enumerate([(0, 0), (half_w, 0), (0, half_h), (half_w, half_h)]):
        pen.rectangle((x, y, x + half_w, y + half_h), fill=colours[index])
    pen.rectangle((0, height * 2 // 5, width, height * 3 // 5), fill=(250, 250, 250))
    return image


def encoded(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def thumbnail(image: Image.Image) -> Image.Image:
    """As the stand-in records what it got: 16x16, RGB."""
    return image.convert("RGB").resize((16, 16), Image.Resampling.BOX)


def recorded(entry: dict) -> Image.Image:
    """The thumbnail the stand-in recorded of an image it got."""
    return Image.frombytes("RGB", (16, 16), base64.b64decode(entry["thumbnail"]))


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0 (the same) to 255."""
    a, b = a.convert("RGB"), b.convert("RGB").resize(a.size)
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


@functools.cache
def photo() -> bytes:
    """A 12-megapixel JPEG as a phone takes it: 4000x3000, about 5 MB (7 MB as a data URI)."""
    # Sensor noise weighs the JPEG as a photo's detail does. A tile of it, repeated: JPEG
    # codes each 8x8 block alone, so the file weighs the same and takes a tenth of the time.
    tile = Image.merge("RGB", [Image.effect_noise((500, 500), 30) for _ in range(3)])
    noise = Image.new("RGB", (4000, 3000))
    for x in range(0, 4000, 500):
        for y in range(0, 3000, 500):
            noise.paste(tile, (x, y))
    return encoded(Image.blend(pattern(4000, 3000), noise, 0.4), "JPEG", quality=93)
