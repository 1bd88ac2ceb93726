"""OpenAI's own schemas of its answers (tests/contracts/openai.json, a part of the public
openai/openai-openapi document), as JSON Schema that jsonschema-rs checks bodies against.

The document is OpenAPI 3.1 with leftovers a JSON Schema validator does not read, which
`_converted` turns into what they mean: `nullable: true` (3.0's spelling) allows null, a
2019-09 `$recursiveRef` is a plain `$ref`, and a `discriminator` picks its variant by `type`
(so that a failure names the field, not the whole union).

Where the document is narrower than the truth, the service keeps the truth, and `TRUTH`
says where: an Images answer's `size` is the size delivered (1024x683 for an edit of a 3:2
photo), while the document lists three sizes of OpenAI's own models.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import jsonschema_rs

SCHEMAS = Path(__file__).resolve().parent / "contracts" / "openai.json"
REF = "#/components/schemas/"
KEYWORDS_OF_VALUES = {"enum", "const", "required", "default"}
# (schema, property): a `WIDTHxHEIGHT` of any size, where the document lists a few.
TRUTH = {
    ("ImagesResponse", "size"),
    ("ImageGenCompletedEvent", "size"),
    ("ImageEditCompletedEvent", "size"),
}
SIZE = {"type": "string", "pattern": "^[0-9]+x[0-9]+$"}


def check(name: str, body: Any) -> None:
    """Fail, naming every field at fault, unless `body` is a valid `name` of OpenAI's API."""
    faults = [f"/{'/'.join(map(str, e.instance_path))}: {e.message}" for e in
              _validator(name).iter_errors(body)]  # fmt: skip
    assert not faults, f"{name}: " + "; ".join(faults)


@functools.cache
def _validator(name: str) -> Any:
    root = {"$ref": f"{REF}{name}", "components": {"schemas": _converted()}}
    return jsonschema_rs.Draft202012Validator(root)


@functools.cache
def _converted() -> dict[str, Any]:
    schemas = json.loads(SCHEMAS.read_text(encoding="utf-8"))["schemas"]
    converted = {name: _convert(copy.deepcopy(schema), name, schemas) for name, schema in
                 schemas.items()}  # fmt: skip
    for name, field in TRUTH:
        converted[name]["properties"][field] = SIZE
    return converted


def _convert(node: Any, owner: str, schemas: dict, names: bool = False) -> Any:
    """`node` of the schema `owner` as JSON Schema 2020-12; `names`: its keys are property
    names, not keywords."""
    if isinstance(node, list):
        return [_convert(item, owner, schemas) for item in node]
    if not isinstance(node, dict):
        return node
    if names:
        return {key: _convert(value, owner, schemas) for key, value in node.items()}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in KEYWORDS_OF_VALUES:
            out[key] = value
        elif key == "$recursiveRef":
            out["$ref"] = f"{REF}{owner}"
        elif key != "$recursiveAnchor":
            out[key] = _convert(value, owner, schemas, names=key in ("properties", "$defs"))
    if out.pop("nullable", False):
        out = {"anyOf": [out, {"type": "null"}]}
    return _picked_by_type(out, schemas) if "discriminator" in out else out


def _picked_by_type(node: dict, schemas: dict) -> dict:
    """A union whose variants each pin `type` as a check of the variant its `type` names;
    any other union as it is."""
    union = "oneOf" if "oneOf" in node else "anyOf"
    variants = node.get(union, [])
    pinned = [_pinned_types(variant.get("$ref", ""), schemas) for variant in variants]
    if node["discriminator"].get("propertyName") != "type" or not variants or None in pinned:
        return node
    rest = {key: value for key, value in node.items() if key not in (union, "discriminator")}
    return {
        **rest,
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": [value for values in pinned for value in values]}},
        "allOf": [
            {"if": {"properties": {"type": {"enum": values}}}, "then": {"$ref": variant["$ref"]}}
            for values, variant in zip(pinned, variants, strict=True)
        ],
    }


def _pinned_types(ref: str, schemas: dict) -> list[str] | None:
    """The values of `type` the schema `ref` names allows, if it (or a schema it is made of)
    pins them with an enum."""
    schema = schemas.get(ref.removeprefix(REF), {}) if ref.startswith(REF) else {}
    enum = schema.get("properties", {}).get("type", {}).get("enum")
    if isinstance(enum, list):
        return enum
    parts = (_pinned_types(part.get("$ref", ""), schemas) for part in schema.get("allOf", []))
    return next((found for found in parts if found is not None), None)
