"""The MCP door's tools as `tools/list` describes them: what each one does, the arguments
it takes (`inputSchema`) and the structured result it gives (`outputSchema`).

- `generate_image` draws one to four images from a prompt;
- `edit_image` draws from images: URLs, data: URIs or links this service returned;
- `list_models` says what each offered model can do, and costs.

The descriptions are written for the model that picks the arguments: what each argument
means, its default, and where to look further. 2025-03-26 knows no titles and no output
schemas: its clients get neither.
"""

from __future__ import annotations

from ..generation.prompt import MAX_SIDE, MIN_SIDE, RATIO_SIZES
from ..stores.base import EXTENSIONS
from ..upstream.catalog import MAX_SEED, ModelSpec, ServedModels
from .fields import MAX_IMAGES
from .mcp_protocol import RICH_VERSION
from .translations import kept_for

GENERATE, EDIT, MODELS = "generate_image", "edit_image", "list_models"
FORMATS = list(EXTENSIONS.values())  # every format the service keeps, as output_format names it


def choices(tool: str, models: ServedModels) -> list[ModelSpec]:
    """The served models `tool` may be asked to draw with."""
    if tool == EDIT:
        return [model for model in models.offered if model.inputs is not None]
    return [m for m in models.offered if m.inputs is None or not m.inputs.needed]


def tools(models: ServedModels, editor: ModelSpec | None, kept: int, version: str) -> list[dict]:
    """The tools, as `tools/list` gives them to a client of `version`: edit_image only when
    a served model works from images (`editor`, the one it uses by default)."""
    kept_phrase = kept_for(kept)
    listed = [_generate_tool(models, kept_phrase)]
    if editor is not None:
        listed.append(_edit_tool(models, editor, kept_phrase))
    listed.append(_models_tool())
    if version >= RICH_VERSION:
        return listed
    plain = ("name", "description", "inputSchema", "annotations")
    return [{key: tool[key] for key in plain} for tool in listed]


def _generate_tool(models: ServedModels, kept_for: str) -> dict:
    return {
        "name": GENERATE,
        "title": "Generate an image",
        "description": (
            "Draw one to four images from a text prompt with a FLUX model on Cloudflare "
            "Workers AI. The result shows each image (a preview, at most 1024 pixels a side), "
            f"its link to the full image (kept {kept_for}), and what was drawn: model, "
            "size, seed. Describe the image in plain words, in English for the best results; "
            "leave size, aspect_ratio and model out unless the user asked for them. list_models "
            "tells what each model can do."
        ),
        "inputSchema": _input_schema(
            {"prompt": _PROMPT}, _drawing_fields(choices(GENERATE, models), models.default)
        ),
        "outputSchema": DRAWN_SCHEMA,
        "annotations": _annotations("Generate an image", read_only=False),
    }


def _edit_tool(models: ServedModels, editor: ModelSpec, kept_for: str) -> dict:
    images = {
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "minItems": 1,
        "maxItems": MAX_IMAGES,
        "description": (
            "The images to work from, the first leading, each one of: an http(s) URL this "
            "service can fetch (public addresses only), a data: URI (data:image/png;base64,…), "
            "or a link this service returned (…/image/<key>)."
        ),
    }
    mask = {
        "type": "string",
        "description": (
            "Optional: a PNG as large as the first image whose transparent pixels mark "
            "where to change it; the same forms as `images`."
        ),
    }
    return {
        "name": EDIT,
        "title": "Edit an image",
        "description": (
            "Change images as a prompt says, or draw a new image from them (up to four, "
            "the first leading), with a model that works from images. The output keeps the "
            "first image's shape unless size or aspect_ratio say otherwise. The result is "
            f"generate_image's: a preview of each image, its link (kept {kept_for}), and "
            "what was drawn."
        ),
        "inputSchema": _input_schema(
            {"prompt": _EDIT_PROMPT, "images": images, "mask": mask},
            _drawing_fields(choices(EDIT, models), editor),
            required=["prompt", "images"],
        ),
        "outputSchema": DRAWN_SCHEMA,
        "annotations": _annotations("Edit an image", read_only=False),
    }


def _models_tool() -> dict:
    return {
        "name": MODELS,
        "title": "List the image models",
        "description": (
            "The image models this server offers and what each can do: the sizes it draws, "
            "whether it takes a seed, whether it works from images (edit_image) and how many, "
            "and its price for a 1024x1024 image in Workers AI neurons and US dollars; and "
            "which model each tool draws with by default."
        ),
        "inputSchema": {"type": "object", "properties": {}},
        "outputSchema": MODELS_SCHEMA,
        "annotations": _annotations("List the image models", read_only=True),
    }


_PROMPT = {
    "type": "string",
    "minLength": 1,
    "description": (
        "What to draw, in plain words: subject, style, light, composition. It may end with a "
        "ratio (16:9) or a size (1280x720), which then wins over size and aspect_ratio."
    ),
}
_EDIT_PROMPT = {
    "type": "string",
    "minLength": 1,
    "description": "What to change in the images, or what to draw from them, in plain words.",
}


def _drawing_fields(offered: list[ModelSpec], default: ModelSpec) -> dict:
    shapes = ", ".join(f"{ratio} is {w}x{h}" for ratio, (w, h) in RATIO_SIZES.items())
    return {
        "aspect_ratio": {
            "type": "string",
            "enum": list(RATIO_SIZES),
            "description": f"The image's shape ({shapes}). Give this or size, not both.",
        },
        "size": {
            "type": "string",
            "pattern": "^[0-9]{2,5}x[0-9]{2,5}$",
            "description": (
                f"The exact size in pixels, WIDTHxHEIGHT such as 1280x720, each side {MIN_SIDE} "
                f"to {MAX_SIDE}. Past the model's largest side (list_models) it is scaled down, "
                "its shape kept."
            ),
        },
        "model": {
            "type": "string",
            "enum": [model.short_name for model in offered],
            "description": f"The model that draws; without it, {default.short_name}.",
        },
        "n": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_IMAGES,
            "default": 1,
            "description": f"How many images to draw at once, 1 to {MAX_IMAGES}.",
        },
        "seed": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_SEED,
            "description": (
                "For a repeatable image with a model that takes a seed: the same prompt, size "
                "and seed draw the same image. Leave it out for a new image each time."
            ),
        },
        "output_format": {
            "type": "string",
            "enum": FORMATS,
            "description": "The full image's format; without it, the one the model draws in.",
        },
    }


def _input_schema(first: dict, rest: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": {**first, **rest}, "required": required or ["prompt"]}


def _annotations(title: str, read_only: bool) -> dict:
    return {
        "title": title,
        "readOnlyHint": read_only,
        "destructiveHint": False,
        "idempotentHint": read_only,
        "openWorldHint": not read_only,
    }


_SIZE_FIELDS = {
    "width": {"type": "integer"},
    "height": {"type": "integer"},
    "mime_type": {"type": "string"},
}
DRAWN_SCHEMA = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "prompt": {
            "type": "string",
            "description": "The prompt as read, a size or ratio taken off",
        },
        "prompt_sent": {"type": "string", "description": "The prompt the model got"},
        "images": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "url": {"type": "string"},
                    **_SIZE_FIELDS,
                    "bytes": {"type": "integer"},
                    "seed": {"type": ["integer", "null"]},
                    "expires_at": {
                        "type": ["string", "null"],
                        "description": "null: kept for good",
                    },
                    "reused": {"type": "boolean"},
                    "preview": {
                        "type": "object",
                        "properties": _SIZE_FIELDS,
                        "required": list(_SIZE_FIELDS),
                    },
                },
                "required": ["url", *_SIZE_FIELDS, "bytes", "seed", "expires_at", "reused"],
            },
        },
        "worked_from": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "origin": {"type": "string"},
                    "width": {"type": "integer"},
                    "height": {"type": "integer"},
                },
                "required": ["origin", "width", "height"],
            },
        },
    },
    "required": ["model", "prompt", "prompt_sent", "images"],
}
_MODEL_ENTRY = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "id": {"type": "string"},
        "sizes": {
            "type": "object",
            "properties": {
                "min_side": {"type": "integer"},
                "max_side": {"type": "integer"},
                "drawn": {"type": "string"},
            },
            "required": ["min_side", "max_side", "drawn"],
        },
        "seed": {"type": "boolean"},
        "draws_from_words": {"type": "boolean"},
        "edits": {
            "type": ["object", "null"],
            "properties": {"max_images": {"type": "integer"}, "mask": {"type": "string"}},
        },
        "price_1024x1024": {
            "type": ["object", "null"],
            "properties": {"neurons": {"type": "number"}, "dollars": {"type": "number"}},
        },
    },
    "required": ["name", "id", "sizes", "seed", "draws_from_words", "edits", "price_1024x1024"],
}
MODELS_SCHEMA = {
    "type": "object",
    "properties": {
        "models": {"type": "array", "items": _MODEL_ENTRY},
        "defaults": {
            "type": "object",
            "properties": {GENERATE: {"type": "string"}, EDIT: {"type": ["string", "null"]}},
            "required": [GENERATE, EDIT],
        },
        "aspect_ratios": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["models", "defaults", "aspect_ratios"],
}
