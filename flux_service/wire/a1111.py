"""AUTOMATIC1111's `/sdapi/v1` on the wire: reading txt2img and img2img bodies, and naming
the models as its checkpoints. Pure functions.

A1111 reads its bodies with pydantic models that ignore unknown keys, and its clients send
many: SillyTavern forwards its whole request (its `url` and `auth` included), and every
client sends sampler, hires-fix, face-restoration and script fields. Those are accepted and
ignored, never refused; the fields that decide the picture are read and checked, and a bad
one is a 400 that names it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidRequestError
from ..generation.prompt import MAX_SIDE, MIN_SIDE
from ..upstream.catalog import MAX_SEED, ModelSpec, ServedModels
from .fields import MAX_IMAGES, optional
from .images import IMAGE_FORMATS

DEFAULT_SIDE = 512  # A1111's width and height when a txt2img body names none
HASH_CHARS = 10  # A1111's short hash of a checkpoint
NAME_CHARS = 300  # no checkpoint name of ours is longer: a longer one names none
_HASH_SUFFIX = re.compile(r"\s*\[[^\[\]]*\]\s*$")
_EXTENSIONS = (".safetensors", ".ckpt", ".gguf")


@dataclass(frozen=True)
class SdRequest:
    """What we take from a txt2img or img2img body."""

    prompt: str
    negative_prompt: str = ""
    size: tuple[int, int] | None = None  # None: img2img keeps its image's proportions
    steps: int | None = None  # None: the model's usual
    seed: int | None = None  # None: a random one (A1111's -1)
    batch_size: int = 1
    n: int = 1  # batch_size x n_iter: how many images
    cfg_scale: float | None = None  # guidance, for the models that take it
    checkpoint: str | None = None  # override_settings.sd_model_checkpoint
    mime: str | None = None  # override_settings.samples_format; None: the model's own
    send_images: bool = True
    styles: tuple[str, ...] = ()
    # img2img: the pictures as sent (base64, a data: URI or a URL), the mask (white: change
    # it; black with `mask_invert`), how far to move from the picture.
    init_images: tuple[str, ...] = ()
    mask: str | None = None
    mask_invert: bool = False
    denoising_strength: float | None = None
    fields: dict = field(default_factory=dict, compare=False, repr=False)  # the body


def parse_txt2img(body: Any) -> SdRequest:
    """Read a `/sdapi/v1/txt2img` body; raise InvalidRequestError naming the bad field."""
    fields = _object(body)
    return SdRequest(
        prompt=_prompt(fields),
        negative_prompt=optional(fields, "negative_prompt", str, ""),
        size=(_side(fields, "width"), _side(fields, "height")),
        **_common(fields),
    )


def parse_img2img(body: Any) -> SdRequest:
    """Read a `/sdapi/v1/img2img` body; raise InvalidRequestError naming the bad field."""
    fields = _object(body)
    images = fields.get("init_images")
    if not isinstance(images, list) or not images:
        raise InvalidRequestError(
            "`init_images` must be a list of at least one image (base64, a data: URI or a URL).",
            param="init_images",
        )
    if len(images) > MAX_IMAGES:
        raise InvalidRequestError(
            f"`init_images` holds {len(images)} images; at most {MAX_IMAGES} are taken.",
            param="init_images",
        )
    if not all(isinstance(image, str) and image.strip() for image in images):
        raise InvalidRequestError(
            "Each of `init_images` must be a non-empty string.", param="init_images"
        )
    # Without a size, the edit keeps its picture's proportions (A1111 would stretch it).
    sized = "width" in fields or "height" in fields
    strength = _number(fields, "denoising_strength")
    return SdRequest(
        prompt=_prompt(fields),
        negative_prompt=optional(fields, "negative_prompt", str, ""),
        size=(_side(fields, "width"), _side(fields, "height")) if sized else None,
        init_images=tuple(images),
        mask=optional(fields, "mask", str) or None,
        mask_invert=fields.get("inpainting_mask_invert") in (1, True),
        denoising_strength=strength,
        **_common(fields),
    )


def _object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    return body


def _prompt(fields: dict) -> str:
    prompt = optional(fields, "prompt", str, "")
    if not prompt.strip():
        raise InvalidRequestError("`prompt` must be a non-empty string.", param="prompt")
    return prompt


def _common(fields: dict) -> dict[str, Any]:
    """What txt2img and img2img read alike."""
    batch_size, n_iter = _count(fields, "batch_size"), _count(fields, "n_iter")
    if batch_size * n_iter > MAX_IMAGES:
        raise InvalidRequestError(
            f"`batch_size` × `n_iter` asks for {batch_size * n_iter} images; this server draws "
            f"at most {MAX_IMAGES} at once.",
            param="batch_size",
        )
    overrides = fields.get("override_settings")
    overrides = overrides if isinstance(overrides, dict) else {}
    checkpoint = overrides.get("sd_model_checkpoint")
    sample_format = overrides.get("samples_format")
    styles = fields.get("styles")
    styles = styles if isinstance(styles, list) else []
    return {
        "steps": optional(fields, "steps", int),
        "seed": _seed(fields),
        "batch_size": batch_size,
        "n": batch_size * n_iter,
        "cfg_scale": _number(fields, "cfg_scale"),
        "checkpoint": checkpoint if isinstance(checkpoint, str) and checkpoint else None,
        "mime": IMAGE_FORMATS.get(sample_format) if isinstance(sample_format, str) else None,
        "send_images": optional(fields, "send_images", bool, default=True),
        "styles": tuple(style for style in styles if isinstance(style, str)),
        "fields": fields,
    }


def _side(fields: dict, name: str) -> int:
    side = optional(fields, name, int, DEFAULT_SIDE)
    if not MIN_SIDE <= side <= MAX_SIDE:
        raise InvalidRequestError(
            f"`{name}` must be between {MIN_SIDE} and {MAX_SIDE} pixels.", param=name
        )
    return side


def _count(fields: dict, name: str) -> int:
    count = optional(fields, name, int, 1)
    if count < 1:
        raise InvalidRequestError(f"`{name}` must be 1 or more.", param=name)
    return count


def _seed(fields: dict) -> int | None:
    """The seed asked for; None for a random one: A1111's -1 (any negative one here)."""
    seed = optional(fields, "seed", int)
    if seed is None or seed < 0:
        return None
    if seed > MAX_SEED:
        raise InvalidRequestError(
            f"`seed` must be -1 (random) or between 0 and {MAX_SEED}.", param="seed"
        )
    return seed


def _number(fields: dict, name: str) -> float | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequestError(f"`{name}` must be a number.", param=name)
    return float(value)


def short_hash(model: ModelSpec) -> str:
    """The model's A1111 short hash: the start of its `sha256`."""
    return model_sha256(model)[:HASH_CHARS]


def model_sha256(model: ModelSpec) -> str:
    """A stable stand-in for a checkpoint file's SHA-256: that of the model's id."""
    return hashlib.sha256(model.id.encode()).hexdigest()


def checkpoint_title(model: ModelSpec) -> str:
    """The model as A1111 titles a checkpoint: `name [shorthash]`."""
    return f"{model.short_name} [{short_hash(model)}]"


def find_checkpoint(models: ServedModels, name: str) -> ModelSpec | None:
    """The served model a checkpoint name means: a title (`flux-1-schnell [abc…]`), a
    model name, a short name or a Workers AI id, with or without a file extension."""
    if len(name) > NAME_CHARS:
        return None
    wanted = _HASH_SUFFIX.sub("", name).strip()
    for extension in _EXTENSIONS:
        wanted = wanted.removesuffix(extension)
    return models.find(wanted) if wanted else None
