"""The Model Context Protocol's own schemas of what /mcp answers, per revision, and the
spec's examples (tests/contracts/mcp.json, kept from modelcontextprotocol/modelcontextprotocol
by tests/contracts/refresh_mcp.py), as JSON Schema that jsonschema-rs checks bodies against.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema_rs

CONTRACT = Path(__file__).resolve().parent / "contracts" / "mcp.json"
REVISIONS = ("2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")


def check(revision: str, name: str, body: Any) -> None:
    """Fail, naming every field at fault, unless `body` is a valid `name` of `revision`."""
    faults = [f"/{'/'.join(map(str, e.instance_path))}: {e.message}" for e in
              _validator(revision, name).iter_errors(body)]  # fmt: skip
    assert not faults, f"{revision} {name}: " + "; ".join(faults)


def check_schema(schema: dict, body: Any) -> None:
    """Fail unless `body` is valid for `schema` (a tool's outputSchema, say)."""
    faults = [e.message for e in jsonschema_rs.Draft202012Validator(schema).iter_errors(body)]
    assert not faults, "; ".join(faults)


def answer_names(revision: str) -> tuple[str, str]:
    """What `revision` calls a result response and an error response."""
    if revision in ("2025-03-26", "2025-06-18"):
        return "JSONRPCResponse", "JSONRPCError"
    return "JSONRPCResultResponse", "JSONRPCErrorResponse"


def example(path: str) -> Any:
    """One of the spec's examples, as `schema/2026-07-28/examples/<path>` has it."""
    return json.loads(json.dumps(_contract()["examples"][path]))  # a fresh copy each time


@functools.cache
def _validator(revision: str, name: str) -> Any:
    schema = _contract()["revisions"][revision]
    key = "$defs" if "$defs" in schema else "definitions"
    root = {"$ref": f"#/{key}/{name}", key: schema[key]}
    if key == "definitions":
        return jsonschema_rs.Draft7Validator(root)
    return jsonschema_rs.Draft202012Validator(root)


@functools.cache
def _contract() -> dict:
    return json.loads(CONTRACT.read_text(encoding="utf-8"))
