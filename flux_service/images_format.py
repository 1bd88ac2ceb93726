"""The OpenAI Images API on the wire: read generations and edits requests, build answers.

Generations come as JSON; edits as multipart form data, with the image under `image`,
`image[]` or a repeated `image` (real clients send all three), an optional `mask`, and every
other field as text, numbers included. Both are read into one `ImagesRequest`.
"""

from __future__ import annotations

import re
from base64 import b64encode
from dataclasses import dataclass, replace
from typing import Any

from werkzeug.datastructures import MultiDict

from .errors import InvalidRequestError
from .openai_format import optional, seed_of
from .prompt import MAX_SIDE, MIN_SIDE

MAX_IMAGES = 4
IMAGE_FORMATS = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "webp": "image/webp",
}
_SIZE = re.compile(r"(\d{1,5})[xX](\d{1,5})")
# The names real clients send edit images under.
IMAGE_FIELDS = ("image", "image[]")
# Fields that arrive as text in a form but are numbers in JSON.
_NUMBERS = ("n", "seed")


@dataclass(frozen=True)
class ImagesRequest:
    """What we take from an images request: generations, or edits with their images."""

    prompt: str
    model: str | None = None
    n: int = 1
    size: tuple[int, int] | None = None  # None: from the prompt, or the default
    response_format: str = "url"
    mime: str | None = None  # None: the model's own image type
    seed: int | None = None
    images: tuple[bytes, ...] = ()  # edits: the files to work from
    mask: bytes | None = None


def parse_images_request(body: Any) -> ImagesRequest:
    """Read a `/v1/images/generations` body; raise InvalidRequestError naming the bad field."""
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    prompt = optional(body, "prompt", str, "")
    if not prompt.strip():
        raise InvalidRequestError("`prompt` must be a non-empty string.", param="prompt")
    model = optional(body, "model", str)
    n = optional(body, "n", int, 1)
    if not 1 <= n <= MAX_IMAGES:
        raise InvalidRequestError(f"`n` must be between 1 and {MAX_IMAGES}.", param="n")
    # gpt-image models answer in base64 only; the others default to URLs, as OpenAI does.
    default_format = "b64_json" if (model or "").lower().startswith("gpt-image") else "url"
    response_format = optional(body, "response_format", str, default_format)
    if response_format not in ("url", "b64_json"):
        raise InvalidRequestError(
            "`response_format` must be `url` or `b64_json`.", param="response_format"
        )
    output_format = optional(body, "output_format", str)
    if output_format is not None and output_format not in IMAGE_FORMATS:
        raise InvalidRequestError(
            "`output_format` must be `png`, `jpeg` or `webp`.", param="output_format"
        )
    return ImagesRequest(
        prompt=prompt,
        model=model,
        n=n,
        size=parse_size(optional(body, "size", str, "auto")),
        response_format=response_format,
        mime=IMAGE_FORMATS[output_format] if output_format else None,
        seed=seed_of(body),
    )


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


def image_item(data: bytes, url: str | None, revised_prompt: str | None) -> dict:
    """One entry of an images answer: its `url` if it has one, else its bytes in base64."""
    item = {"url": url} if url is not None else {"b64_json": b64encode(data).decode()}
    if revised_prompt is not None:
        item["revised_prompt"] = revised_prompt
    return item


def images_body(created: int, items: list[dict]) -> dict:
    """An images answer."""
    return {"created": created, "data": items}


def parse_edit_request(form: MultiDict[str, str], files: MultiDict[str, bytes]) -> ImagesRequest:
    """Read a `/v1/images/edits` form; raise InvalidRequestError naming the bad field."""
    body: dict[str, Any] = {name: form.get(name) for name in form}
    for name in _NUMBERS:
        value = body.get(name)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            body[name] = int(value)
    if body.get("model") == "":
        body["model"] = None  # Open WebUI's edit sends model="" when none is set
    request = parse_images_request(body)
    images = tuple(data for name in IMAGE_FIELDS for data in files.getlist(name))
    if not images:
        raise InvalidRequestError(
            "Send the image to edit as a file part named `image` (or `image[]`).", param="image"
        )
    return replace(request, images=images, mask=files.get("mask"))
