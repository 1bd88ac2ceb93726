"""The input schemas of the Workers AI text-to-image models, as Cloudflare publishes them.

Written from the published model schemas on their own, not from our catalogue, so that a
mistake in the catalogue shows up as a rejected request in the tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    """One input property: its JSON type and limits."""

    kind: str  # "string", "integer", "number", "array" or "file"
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class Schema:
    """How one model is called and what it answers."""

    fields: dict[str, Field]
    body: str = "json"  # or "multipart"
    output: str = "base64"  # or "binary": raw image bytes
    image: str = "JPEG"  # what the model draws
    content_type: str = ""  # what a binary model labels its bytes as
    closed: bool = False  # additionalProperties: false
    default_size: tuple[int, int] = (1024, 1024)
    takes_size: bool = True
    round_down: int = 1  # klein rounds width and height down to a multiple of this
    required: tuple[str, ...] = ("prompt",)
    inputs: str | None = None  # how it takes images: references, img2img or inpainting


_PROMPT = Field("string", min_length=1)
_SD = {
    "prompt": _PROMPT,
    "negative_prompt": Field("string"),
    "height": Field("integer", 256, 2048),
    "width": Field("integer", 256, 2048),
    "image": Field("array"),
    "image_b64": Field("string"),
    "mask": Field("array"),
    "num_steps": Field("integer", maximum=20),
    "strength": Field("number"),
    "guidance": Field("number"),
    "seed": Field("integer"),
}
_FLUX2 = {
    "prompt": _PROMPT,
    "width": Field("integer", 256, 1920),
    "height": Field("integer", 256, 1920),
    "guidance": Field("number"),
    "seed": Field("integer"),
    **{f"input_image_{n}": Field("file") for n in range(4)},
}

SCHEMAS: dict[str, Schema] = {
    "@cf/black-forest-labs/flux-1-schnell": Schema(
        {
            "prompt": Field("string", min_length=1, max_length=2048),
            "steps": Field("integer", maximum=8),
        },
        closed=True,
        takes_size=False,
    ),
    "@cf/black-forest-labs/flux-2-klein-4b": Schema(
        _FLUX2,
        body="multipart",
        closed=True,
        default_size=(1024, 768),
        round_down=16,
        inputs="references",
    ),
    "@cf/black-forest-labs/flux-2-klein-9b": Schema(
        _FLUX2,
        body="multipart",
        closed=True,
        default_size=(1024, 768),
        image="PNG",
        inputs="references",
    ),
    "@cf/black-forest-labs/flux-2-dev": Schema(
        {**_FLUX2, "steps": Field("integer", 1, 50)},
        body="multipart",
        closed=True,
        default_size=(1024, 768),
        image="PNG",
        inputs="references",
    ),
    "@cf/leonardo/lucid-origin": Schema(
        {
            "prompt": _PROMPT,
            "guidance": Field("number", 0, 10),
            "seed": Field("integer", minimum=0),
            "height": Field("integer", 0, 2500),
            "width": Field("integer", 0, 2500),
            "num_steps": Field("integer", 1, 40),
            "steps": Field("integer", 1, 40),
        },
        default_size=(1120, 1120),
    ),
    "@cf/leonardo/phoenix-1.0": Schema(
        {
            "prompt": _PROMPT,
            "guidance": Field("number", 2, 10),
            "seed": Field("integer", minimum=0),
            "height": Field("integer", 0, 2048),
            "width": Field("integer", 0, 2048),
            "num_steps": Field("integer", 1, 50),
            "negative_prompt": Field("string", min_length=1),
        },
        output="binary",
        content_type="image/jpeg",
    ),
    "@cf/stabilityai/stable-diffusion-xl-base-1.0": Schema(
        _SD, output="binary", image="PNG", content_type="image/png"
    ),
    # Labelled PNG, but sometimes JPEG in practice: clients must read the bytes.
    "@cf/bytedance/stable-diffusion-xl-lightning": Schema(
        _SD, output="binary", image="JPEG", content_type="image/png"
    ),
    "@cf/lykon/dreamshaper-8-lcm": Schema(
        _SD, output="binary", image="PNG", content_type="image/png", default_size=(512, 512)
    ),
    "@cf/runwayml/stable-diffusion-v1-5-img2img": Schema(
        _SD,
        output="binary",
        image="PNG",
        content_type="image/png",
        default_size=(512, 512),
        inputs="img2img",
    ),
    "@cf/runwayml/stable-diffusion-v1-5-inpainting": Schema(
        _SD,
        output="binary",
        image="PNG",
        content_type="image/png",
        default_size=(512, 512),
        inputs="inpainting",
    ),
}

_ACCEPTS = {
    "integer": {"integer"},
    "number": {"integer", "number"},
    "string": {"string"},
    "array": {"array"},
    "file": {"file"},
}
_INTEGER = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def coerce_form(schema: Schema, form: dict[str, str]) -> dict[str, object]:
    """Multipart text fields typed as the schema says; values that do not parse stay text."""
    typed: dict[str, object] = {}
    for name, value in form.items():
        kind = schema.fields[name].kind if name in schema.fields else "string"
        if kind == "integer" and _INTEGER.fullmatch(value):
            typed[name] = int(value)
        elif kind == "number" and _NUMBER.fullmatch(value):
            typed[name] = float(value)
        else:
            typed[name] = value
    return typed


def validate(schema: Schema, inputs: dict[str, object]) -> str | None:
    """None if `inputs` fit `schema`, else Workers AI's complaint."""
    for name in schema.required:
        if name not in inputs:
            return f"required properties at '/' are '{name}'"
    for name, value in inputs.items():
        spec = schema.fields.get(name)
        if spec is None:
            if schema.closed:
                return f"Additional or unevaluated properties '/{name}' at '/' not allowed"
            continue
        problem = _check(name, spec, value)
        if problem:
            return problem
    return None


def _check(name: str, spec: Field, value: object) -> str | None:
    kind = _kind(value)
    if kind not in _ACCEPTS[spec.kind]:
        return f"Type mismatch of '/{name}', '{kind}' not in '{spec.kind}'"
    if isinstance(value, str):
        if spec.min_length is not None and len(value) < spec.min_length:
            return f"String is too short ({len(value)} < {spec.min_length}) at '/{name}'"
        if spec.max_length is not None and len(value) > spec.max_length:
            return f"String is too long ({len(value)} > {spec.max_length}) at '/{name}'"
    if isinstance(value, (int, float)):
        if spec.minimum is not None and value < spec.minimum:
            return f"Number {value} at '/{name}' is less than the minimum {spec.minimum:g}"
        if spec.maximum is not None and value > spec.maximum:
            return f"Number {value} at '/{name}' is greater than the maximum {spec.maximum:g}"
    return None


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bytes):
        return "file"
    return "object" if isinstance(value, dict) else "null"
