"""Images the stand-in draws: real, deterministic, recognisably not from a real model.

The same prompt, seed and size always give the same bytes, so tests can redraw what the
stand-in sent and compare pixels.
"""

from __future__ import annotations

import hashlib
import io
import random
import textwrap
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont, ImageOps


@lru_cache(maxsize=128)
def draw(prompt: str, seed: int, width: int, height: int, fmt: str = "JPEG") -> bytes:
    """An image of `prompt` with `seed`, width x height, encoded as `fmt` (JPEG or PNG)."""
    digest = hashlib.sha256(f"{seed}:{prompt}".encode()).digest()
    top, bottom, accent = digest[0:3], digest[3:6], digest[6:9]
    gradient = Image.linear_gradient("L").resize((width, height))
    image = ImageOps.colorize(gradient, f"#{top.hex()}", f"#{bottom.hex()}")
    pen = ImageDraw.Draw(image)
    # A few discs placed by the digest make different prompts look different.
    for index in range(6):
        x = digest[10 + index] * width // 256
        y = digest[16 + index] * height // 256
        radius = (digest[22 + index] % 64 + 32) * min(width, height) // 512
        shade = tuple((c + 40 * index) % 256 for c in accent)
        pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=shade)
    # Grain, so the image weighs what a real photo-like image does.
    noise = random.Random(digest).randbytes(width * height)
    grain = Image.frombytes("L", (width, height), noise).convert("RGB")
    image = Image.blend(image, grain, 0.03)
    pen = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(12, min(width, height) // 24))
    caption = "\n".join(textwrap.wrap(prompt, width=max(10, width // 28))[:6])
    pen.multiline_text(
        (width // 20, height // 20),
        caption,
        fill="white",
        font=font,
        stroke_width=2,
        stroke_fill="black",
    )
    pen.text(
        (width // 20, height - height // 12),
        "Workers AI stand-in",
        fill="white",
        font=font,
        stroke_width=2,
        stroke_fill="black",
    )
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {"compress_level": 1}))
    return out.getvalue()


def prompt_seed(prompt: str) -> int:
    """The seed of a model that takes none: the same prompt always gives the same image."""
    return int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:4], "big")
