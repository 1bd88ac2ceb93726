"""Fields every OpenAI body reads the same way: optional typed fields, the seed, and how many
images a request may ask for at once."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequestError
from ..upstream.catalog import MAX_SEED

# A chat's choices or an Images request's `n`: as many images as are drawn at once.
MAX_IMAGES = 4


def seed_of(body: dict) -> int | None:
    """The body's `seed`, checked to be one Workers AI takes."""
    seed = optional(body, "seed", int)
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise InvalidRequestError(f"`seed` must be between 0 and {MAX_SEED}.", param="seed")
    return seed


def optional(body: dict, name: str, kind: type, default: Any = None) -> Any:
    """`body[name]` if it is a `kind`, `default` if it is absent or null; else a 400."""
    value = body.get(name)
    if value is None:
        return default
    # JSON has one number type: 2.0 is the whole number 2 (JavaScript may well send it).
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    # bool is an int in Python, but `"seed": true` is not a seed.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidRequestError(f"`{name}` must be a {_KIND_NAMES[kind]}.", param=name)
    return value


_KIND_NAMES = {bool: "boolean", str: "string", int: "whole number", dict: "JSON object"}
