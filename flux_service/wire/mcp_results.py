"""The MCP door's tool calls on the wire: a call's arguments read into what is asked, and
the tool results.

A drawing's result shows each image (`image`, a preview small enough for any client), a
text with its markdown link and what was drawn, a `resource_link` to it, and the same facts
as `structuredContent`, whose JSON a text block repeats, as the spec asks. Arguments a model
got wrong are told back as a tool error naming the argument, so that it can correct them;
only an unknown tool, or arguments that are no object, are protocol errors (the view's).
2025-03-26 knows no structured content and no resource links: its clients get the text and
the pictures.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any

import pybase64

from ..errors import InvalidRequestError
from ..generation.codec import EncodedImage
from ..generation.prompt import MIN_SIDE, RATIO_SIZES, ratio_label
from ..stores.base import EXTENSIONS
from ..upstream.catalog import ModelSpec, ServedModels, lookup
from ..upstream.costs import estimate
from ..upstream.workers_ai import request_size
from .fields import MAX_IMAGES, optional, seed_of
from .images import output_mime, parse_size
from .markdown import ALT_TEXT_LIMIT, markdown_text, markdown_url
from .mcp_protocol import RICH_VERSION
from .mcp_tools import EDIT, GENERATE, choices

ORIGINS = {
    "attached": "sent as a data: URI",
    "earlier": "an image this service drew",
    "fetched": "fetched from its URL",
    "uploaded": "uploaded",
}


@dataclass(frozen=True)
class Drawing:
    """What `generate_image` or `edit_image` asks for, read from its arguments."""

    prompt: str
    model: str | None = None  # a served model's id; None: the tool's default
    n: int = 1
    size: tuple[int, int] | None = None
    seed: int | None = None
    mime: str | None = None
    images: tuple[str, ...] = ()  # edit_image: URLs, data: URIs or our links
    mask: str | None = None


@dataclass(frozen=True)
class ToolImage:
    """One stored image, as its tool result shows it."""

    url: str
    image: EncodedImage  # the picture the link serves
    preview: EncodedImage  # the picture the `image` block carries
    seed: int | None
    expires: float | None  # Unix time it is deleted; None: kept for good
    reused: bool = False


@dataclass(frozen=True)
class Drawn:
    """What a drawing tool drew, for its result."""

    model: str  # its short name
    prompt: str  # the user's prompt, cleaned
    sent: str  # the prompt the model got
    images: tuple[ToolImage, ...]
    worked_from: tuple[tuple[str, int, int], ...] = ()  # each image's origin and size


def read_drawing(tool: str, arguments: dict, models: ServedModels) -> Drawing:
    """What a call of `tool` asks for; InvalidRequestError names the argument at fault."""
    prompt = optional(arguments, "prompt", str, "")
    if not prompt.strip():
        raise InvalidRequestError("`prompt` is required: describe the picture.", param="prompt")
    n = optional(arguments, "n", int, 1)
    if not 1 <= n <= MAX_IMAGES:
        raise InvalidRequestError(f"`n` must be between 1 and {MAX_IMAGES}.", param="n")
    drawing = Drawing(
        prompt,
        model=_model(tool, optional(arguments, "model", str), models),
        n=n,
        size=_size(arguments),
        seed=seed_of(arguments),
        mime=output_mime(arguments),
    )
    if tool != EDIT:
        return drawing
    images = _pictures(arguments.get("images"))
    return replace(drawing, images=images, mask=optional(arguments, "mask", str))


def _model(tool: str, name: str | None, models: ServedModels) -> str | None:
    if name is None or not name.strip():
        return None
    offered = choices(tool, models)
    model = lookup(name)
    if model is None or model not in offered:
        names = ", ".join(choice.short_name for choice in offered)
        raise InvalidRequestError(
            f"`model` {name[:80]!r} is not one this server offers for {tool}: use one of {names}.",
            param="model",
        )
    return model.id


def _size(arguments: dict) -> tuple[int, int] | None:
    size = optional(arguments, "size", str)
    ratio = optional(arguments, "aspect_ratio", str)
    if size is not None and ratio is not None:
        raise InvalidRequestError("Give `size` or `aspect_ratio`, not both.", param="size")
    if ratio is not None:
        if ratio.strip() not in RATIO_SIZES:
            raise InvalidRequestError(
                f"`aspect_ratio` must be one of {', '.join(RATIO_SIZES)}.", param="aspect_ratio"
            )
        return RATIO_SIZES[ratio.strip()]
    return parse_size(size.strip()) if size is not None else None


def _pictures(value: Any) -> tuple[str, ...]:
    """`images`: a list of one to MAX_IMAGES strings (one string alone is taken as one)."""
    listed = [value] if isinstance(value, str) else value
    if (
        not isinstance(listed, list)
        or not 1 <= len(listed) <= MAX_IMAGES
        or not all(isinstance(item, str) and item.strip() for item in listed)
    ):
        raise InvalidRequestError(
            f"`images` must be a list of one to {MAX_IMAGES} images, each an http(s) URL, a "
            "data: URI or a link this service returned.",
            param="images",
        )
    return tuple(item.strip() for item in listed)


def drawing_result(drawn: Drawn, version: str) -> dict:
    """A drawing tool's result for a client of `version`."""
    images = [
        {
            "type": "image",
            "data": pybase64.b64encode_as_string(p.preview.data),
            "mimeType": p.preview.mime,
        }
        for p in drawn.images
    ]
    content = [{"type": "text", "text": _summary(drawn)}, *images]
    if version < RICH_VERSION:
        return {"content": content}
    links = [_resource_link(drawn, index, picture) for index, picture in enumerate(drawn.images)]
    return _structured(content + links, _facts(drawn))


def models_result(facts: dict, version: str) -> dict:
    """list_models' result: the facts as JSON, and as structured content from 2025-06-18."""
    if version < RICH_VERSION:
        return {"content": [_json_text(facts)]}
    return _structured([], facts)


def model_facts(models: ServedModels, editor: ModelSpec | None, default_steps: int | None) -> dict:
    """What list_models tells: each served model's sizes, seed, images and price, and
    which model each tool draws with by default (`default_steps`: FLUX_NUM_STEPS)."""
    entries = []
    for model in models.offered:
        steps = default_steps if model is models.default else model.default_steps
        entries.append(_model_entry(model, steps))
    shapes = {ratio: f"{width}x{height}" for ratio, (width, height) in RATIO_SIZES.items()}
    defaults = {GENERATE: models.default.short_name, EDIT: editor.short_name if editor else None}
    return {"models": entries, "defaults": defaults, "aspect_ratios": shapes}


def _model_entry(model: ModelSpec, steps: int | None) -> dict:
    if model.size is not None:
        drawn_at = request_size(model, 1024, 1024)
        rule = model.size
        drawn = f"at the size asked, each side rounded up to a multiple of {rule.multiple}"
    else:
        assert model.native_size is not None
        drawn_at = model.native_size
        width, height = drawn_at
        drawn = f"at {width}x{height}, then cropped and resized to the size asked"
    inputs = model.inputs
    edits = None
    if inputs is not None:
        mask = "the model paints where it says" if inputs.mask else "applied afterwards"
        edits = {"max_images": inputs.most, "mask": mask}
    cost = estimate(model, *drawn_at, model.steps_run(steps))
    price = {"neurons": round(cost.neurons, 2), "dollars": round(cost.dollars, 6)}
    return {
        "name": model.short_name,
        "id": model.id,
        "sizes": {"min_side": MIN_SIDE, "max_side": model.max_side, "drawn": drawn},
        "seed": model.seed,
        "draws_from_words": inputs is None or not inputs.needed,
        "edits": edits,
        "price_1024x1024": price if cost.published else None,
    }


def failure_result(message: str) -> dict:
    """A tool error: what went wrong, for the model to read and act on."""
    return {"content": [{"type": "text", "text": message}], "isError": True}


def _structured(content: list[dict], facts: dict) -> dict:
    return {"content": [*content, _json_text(facts)], "structuredContent": facts}


def _json_text(facts: dict) -> dict:
    return {"type": "text", "text": json.dumps(facts, ensure_ascii=False)}


def _summary(drawn: Drawn) -> str:
    """The text a model reads: what was drawn, each image linked, and what the preview is."""
    first = drawn.images[0].image
    count = len(drawn.images)
    drew = "an image" if count == 1 else f"{count} images"
    shape = f"{first.width}x{first.height} ({ratio_label(first.width, first.height)})"
    lines = [
        f"Drew {drew} with {drawn.model}: {shape}, {_format(first)}.",
        f"- Prompt sent to the model: {markdown_text(drawn.sent)}",
    ]
    if drawn.worked_from:
        used = "; ".join(f"{ORIGINS.get(o, o)} ({w}x{h})" for o, w, h in drawn.worked_from)
        lines.append(f"- Worked from: {used}")
    alt = markdown_text(drawn.prompt[:ALT_TEXT_LIMIT])
    for picture in drawn.images:
        facts = [] if picture.seed is None else [f"seed {picture.seed}"]
        facts.append(_kept(picture))
        if picture.reused:
            facts.append("reused: an identical request drew it")
        told = "; ".join(facts)
        lines += ["", f"![{alt}]({markdown_url(picture.url)})", f"- {told[0].upper()}{told[1:]}"]
    previews = {(p.preview.width, p.preview.height, p.preview.mime) for p in drawn.images}
    if any(p.preview is not p.image for p in drawn.images):
        shown = ", ".join(f"{w}x{h} {_format_of(mime)}" for w, h, mime in sorted(previews))
        lines += ["", f"The images shown are previews ({shown}); each link serves the full one."]
    return "\n".join(lines)


def _kept(picture: ToolImage) -> str:
    if picture.expires is None:
        return "kept for good"
    return f"kept until {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(picture.expires))}"


def _facts(drawn: Drawn) -> dict:
    facts: dict[str, Any] = {
        "model": drawn.model,
        "prompt": drawn.prompt,
        "prompt_sent": drawn.sent,
        "images": [_picture_facts(image) for image in drawn.images],
    }
    if drawn.worked_from:
        facts["worked_from"] = [
            {"origin": ORIGINS.get(origin, origin), "width": width, "height": height}
            for origin, width, height in drawn.worked_from
        ]
    return facts


def _picture_facts(picture: ToolImage) -> dict:
    image, preview = picture.image, picture.preview
    expires = None
    if picture.expires is not None:
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(picture.expires))
    return {
        "url": picture.url,
        "width": image.width,
        "height": image.height,
        "mime_type": image.mime,
        "bytes": len(image.data),
        "seed": picture.seed,
        "expires_at": expires,
        "reused": picture.reused,
        "preview": {"width": preview.width, "height": preview.height, "mime_type": preview.mime},
    }


def _resource_link(drawn: Drawn, index: int, picture: ToolImage) -> dict:
    image = picture.image
    return {
        "type": "resource_link",
        "uri": picture.url,
        "name": f"{drawn.model}-{index + 1}.{EXTENSIONS[image.mime]}",
        "title": drawn.prompt[:ALT_TEXT_LIMIT],
        "description": f"{image.width}x{image.height} {_format(image)}, {_kept(picture)}",
        "mimeType": image.mime,
        "size": len(image.data),
    }


def _format(image: EncodedImage) -> str:
    return _format_of(image.mime)


def _format_of(mime: str) -> str:
    return EXTENSIONS[mime].upper()
