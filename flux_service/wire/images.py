"""The OpenAI Images API on the wire: read generations and edits requests, build answers.

Generations come as JSON; edits as multipart form data, with the image under `image`,
`image[]` or a repeated `image` (real clients send all three), an optional `mask`, and every
other field as text, numbers and booleans included. Both are read into one `ImagesRequest`.

Answers carry gpt-image's fields (`size`, `output_format`, `quality`, `background`, `usage`)
for every model, saying what was really delivered.
"""

from __future__ import annotations

import re
from base64 import b64encode
from dataclasses import dataclass, replace
from typing import Any

from werkzeug.datastructures import MultiDict

from ..errors import InvalidRequestError
from ..generation.prompt import MAX_SIDE, MIN_SIDE
from ..stores.base import EXTENSIONS
from .chat import estimate_tokens
from .fields import MAX_IMAGES, optional, seed_of

IMAGE_FORMATS = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "webp": "image/webp",
}
_SIZE = re.compile(r"(\d{1,5})[xX](\d{1,5})")
# The names real clients send edit images under.
IMAGE_FIELDS = ("image", "image[]")
# Fields that arrive as text in a form but are numbers or booleans in JSON.
_NUMBERS = ("n", "seed")
_BOOLEANS = ("stream",)
# Without `response_format`, OpenAI's DALL·E models answer with URLs; everything else (and
# the clients that omit the field, or have a gateway drop it) needs base64.
URL_BY_DEFAULT = ("dall-e-2", "dall-e-3")
# gpt-image's quality words, and DALL·E's, as the steps they stand for (see pipeline.py).
QUALITIES = {"low": "low", "medium": "medium", "high": "high", "auto": None,
             "standard": None, "hd": "high"}  # fmt: skip
BACKGROUNDS = ("auto", "opaque", "transparent")


@dataclass(frozen=True)
class ImagesRequest:
    """What we take from an images request: generations, or edits with their images."""

    prompt: str
    model: str | None = None
    n: int = 1
    size: tuple[int, int] | None = None  # None: from the prompt, or the default
    response_format: str = "b64_json"
    mime: str | None = None  # None: the model's own image type
    seed: int | None = None
    quality: str | None = None  # "low" or "high"; None: the model's usual steps
    stream: bool = False  # answer with image events as each image is done
    images: tuple[bytes, ...] = ()  # edits: the files to work from
    mask: bytes | None = None


def parse_images_request(body: Any) -> ImagesRequest:
    """Read a `/v1/images/generations` body; raise InvalidRequestError naming the bad field."""
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    prompt = optional(body, "prompt", str, "")
    if not prompt.strip():
        raise InvalidRequestError("`prompt` must be a non-empty string.", param="prompt")
    model = optional(body, "model", str) or None  # "": no choice made (Open WebUI's edits)
    n = optional(body, "n", int, 1)
    if not 1 <= n <= MAX_IMAGES:
        raise InvalidRequestError(f"`n` must be between 1 and {MAX_IMAGES}.", param="n")
    name = (model or "").strip().lower()
    default_format = "url" if name in URL_BY_DEFAULT else "b64_json"
    response_format = optional(body, "response_format", str, default_format)
    if response_format not in ("url", "b64_json"):
        raise InvalidRequestError(
            "`response_format` must be `url` or `b64_json`.", param="response_format"
        )
    # gpt-image models answer in PNG unless asked otherwise, as OpenAI's do.
    mime = output_mime(body, "png" if name.startswith("gpt-image") else None)
    quality = quality_of(body)
    if optional(body, "background", str, "auto") not in BACKGROUNDS:
        raise InvalidRequestError(
            "`background` must be `auto`, `opaque` or `transparent`.", param="background"
        )
    return ImagesRequest(
        prompt=prompt,
        model=model,
        n=n,
        size=parse_size(optional(body, "size", str, "auto")),
        response_format=response_format,
        mime=mime,
        seed=seed_of(body),
        quality=quality,
        stream=optional(body, "stream", bool, default=False),
    )


def output_mime(
    fields: dict, default: str | None = None, whose: str = "", param: str = "output_format"
) -> str | None:
    """The image type `output_format` asks for (`default` without one); None: the model's
    own. `whose` and `param` name the field in a refusal."""
    name = optional(fields, "output_format", str, default)
    if name is not None and name not in IMAGE_FORMATS:
        raise InvalidRequestError(
            f"{whose}`output_format` must be `png`, `jpeg` or `webp`.", param=param
        )
    return IMAGE_FORMATS[name] if name else None


def quality_of(fields: dict, whose: str = "", param: str = "quality") -> str | None:
    """The steps `quality` asks for: "low" or "high"; None: the model's usual ones."""
    quality = optional(fields, "quality", str, "auto")
    if quality not in QUALITIES:
        raise InvalidRequestError(
            f"{whose}`quality` must be `low`, `medium`, `high` or `auto` (or DALL·E's "
            "`standard`, `hd`).",
            param=param,
        )
    return QUALITIES[quality]


def parse_size(size: str) -> tuple[int, int] | None:
    """`WIDTHxHEIGHT` as numbers, or None for `auto`."""
    if size == "auto":
        return None
    match = _SIZE.fullmatch(size)
    if not match or not all(MIN_SIDE <= int(side) <= MAX_SIDE for side in match.groups()):
        raise InvalidRequestError(
            f"`size` must be `auto` or WIDTHxHEIGHT with sides from {MIN_SIDE} to {MAX_SIDE}, "
            "e.g. 1024x1024.",
            param="size",
        )
    return int(match[1]), int(match[2])


def image_item(
    data: bytes, url: str | None, revised_prompt: str | None, reused: bool = False
) -> dict:
    """One entry of an images answer: its `url` if it has one, else its bytes in base64;
    `reused: true` when an identical request drew it (not part of OpenAI's answer)."""
    item: dict[str, object] = (
        {"url": url} if url is not None else {"b64_json": b64encode(data).decode()}
    )
    if revised_prompt is not None:
        item["revised_prompt"] = revised_prompt
    if reused:
        item["reused"] = True
    return item


@dataclass(frozen=True)
class Delivered:
    """What an images answer says was drawn: the same for every image of a request."""

    width: int
    height: int
    mime: str
    quality: str  # "low", "medium" or "high": the steps the model ran (see pipeline.py)
    prompt: str  # the prompt the model got, for the token estimate

    def fields(self) -> dict:
        """gpt-image's description of the images. No model here draws transparency, so the
        background is always opaque, whatever was asked."""
        return {
            "size": f"{self.width}x{self.height}",
            "output_format": EXTENSIONS[self.mime],  # OpenAI names its formats so too
            "quality": self.quality,
            "background": "opaque",
        }

    def usage(self) -> dict:
        """gpt-image's `usage`: the prompt's estimated tokens. No tokens come out of a
        diffusion model, and images sent in are not tokenised, so those count 0."""
        tokens = estimate_tokens(self.prompt)
        return {
            "input_tokens": tokens,
            "input_tokens_details": {"text_tokens": tokens, "image_tokens": 0},
            "output_tokens": 0,
            "total_tokens": tokens,
        }


def images_body(created: int, items: list[dict], delivered: Delivered) -> dict:
    """An images answer."""
    return {"created": created, "data": items, **delivered.fields(), "usage": delivered.usage()}


def image_event(
    kind: str, created: int, data: bytes, delivered: Delivered, reused: bool = False
) -> dict:
    """One `image_generation.completed` or `image_edit.completed` event of an image stream,
    with `reused: true` as in `image_item`."""
    event = {
        "type": f"{kind}.completed",
        "b64_json": b64encode(data).decode(),
        "created_at": created,
        **delivered.fields(),
        "usage": delivered.usage(),
    }
    return {**event, "reused": True} if reused else event


def parse_edit_request(form: MultiDict[str, str], files: MultiDict[str, bytes]) -> ImagesRequest:
    """Read a `/v1/images/edits` form; raise InvalidRequestError naming the bad field."""
    body: dict[str, Any] = {name: form.get(name) for name in form}
    for name in _NUMBERS:
        value = body.get(name)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            body[name] = int(value)
    for name in _BOOLEANS:
        value = body.get(name)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            body[name] = value.strip().lower() == "true"
    request = parse_images_request(body)
    images = tuple(data for name in IMAGE_FIELDS for data in files.getlist(name))
    if not images:
        raise InvalidRequestError(
            "Send the image to edit as a file part named `image` (or `image[]`).", param="image"
        )
    return replace(request, images=images, mask=files.get("mask"))
