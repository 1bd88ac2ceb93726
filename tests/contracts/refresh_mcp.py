"""Write tests/contracts/mcp.json: the Model Context Protocol's own JSON Schemas of the
messages /mcp answers with, for each revision it speaks, and the spec's examples of the
requests and errors it handles, from a checkout of modelcontextprotocol/modelcontextprotocol.

    python -m tests.contracts.refresh_mcp ../modelcontextprotocol COMMIT DATE

It keeps, from each `schema/<revision>/schema.json`, the definitions named in ROOTS (those
the revision has) and every definition they refer to, without their descriptions, and the
files of EXAMPLES from `schema/2026-07-28/examples/`, so that the tests need no network.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.contracts.refresh import referred, without_docs

OUT = Path(__file__).resolve().parent / "mcp.json"
DESCRIPTIONS = frozenset({"description"})  # what is left out of each definition
REVISIONS = ("2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")
# Every message /mcp answers with, by the schema's own names (each revision has some).
ROOTS = (
    "JSONRPCResponse",
    "JSONRPCError",
    "JSONRPCErrorResponse",
    "JSONRPCResultResponse",
    "JSONRPCBatchResponse",
    "InitializeResult",
    "DiscoverResult",
    "ListToolsResult",
    "CallToolResult",
    "EmptyResult",
    "Tool",
)
EXAMPLES = (
    "DiscoverRequest/server-discover-request.json",
    "DiscoverResult/server-capabilities-discovery.json",
    "ListToolsRequest/list-tools-request.json",
    "ListToolsResult/tools-list-with-cursor-and-ttl.json",
    "CallToolRequest/call-tool-request.json",
    "PaginatedRequestParams/list-with-cursor.json",
    "HeaderMismatchError/header-mismatch.json",
    "UnsupportedProtocolVersionError/unsupported-version.json",
    "InvalidParamsError/unknown-tool.json",
    "ParseError/invalid-json.json",
    "MethodNotFoundError/prompts-not-supported.json",
    "CallToolResult/invalid-tool-input-error.json",
    "CallToolResult/result-with-structured-content.json",
    "ImageContent/image-png-content-with-annotations.json",
    "ResourceLink/file-resource-link.json",
    "Tool/with-output-schema-for-structured-content.json",
)


def revision(checkout: Path, name: str) -> dict:
    """One revision's schema: its dialect, and the definitions kept, where it keeps them."""
    document = json.loads((checkout / "schema" / name / "schema.json").read_text("utf-8"))
    key = "$defs" if "$defs" in document else "definitions"
    definitions = document[key]
    kept: set[str] = set()
    todo = [root for root in ROOTS if root in definitions]
    while todo:
        found = todo.pop()
        if found not in kept:
            kept.add(found)
            todo.extend(referred(definitions[found], f"#/{key}/"))
    kept_definitions = {
        found: without_docs(definitions[found], DESCRIPTIONS) for found in sorted(kept)
    }
    return {"$schema": document["$schema"], key: kept_definitions}


def main(checkout: str, commit: str, date: str) -> None:
    root = Path(checkout)
    examples = root / "schema" / "2026-07-28" / "examples"
    body = {
        "source": {
            "repository": "modelcontextprotocol/modelcontextprotocol",
            "path": "schema/",
            "commit": commit,
            "date": date,
        },
        "revisions": {name: revision(root, name) for name in REVISIONS},
        "examples": {name: json.loads((examples / name).read_text("utf-8")) for name in EXAMPLES},
    }
    OUT.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:4])
