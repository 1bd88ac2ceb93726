"""Write tests/contracts/openai.json: the schemas of OpenAI's published API that the service's
answers are checked against, from `openapi.json` of a checkout of openai/openai-openapi.

    python -m tests.contracts.refresh ../openai-openapi/openapi.json COMMIT DATE

It keeps the schemas named in ROOTS and every schema they refer to, as the document has them
(descriptions and examples left out), so the tests need no network.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "openai.json"
REF = "#/components/schemas/"
# Every shape the service answers with, by the document's own names.
ROOTS = (
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "ListModelsResponse",
    "Model",
    "ImagesResponse",
    "ImageGenStreamEvent",
    "ImageEditStreamEvent",
    "Response",
    "ResponseStreamEvent",
    "ErrorResponse",
)
DOCS = frozenset({"description", "example", "examples", "x-oaiMeta"})


def referred(node: object, prefix: str = REF) -> set[str]:
    """The names of the definitions `node` refers to, those whose `$ref` starts with `prefix`."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        found = {ref[len(prefix) :]} if isinstance(ref, str) and ref.startswith(prefix) else set()
        return found.union(*(referred(value, prefix) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(referred(value, prefix) for value in node))
    return set()


def without_docs(node: object, docs: frozenset[str] = DOCS, properties: bool = False) -> object:
    """`node` without the `docs` keys, descriptions and examples (a property may be called
    so: kept)."""
    if isinstance(node, dict):
        return {
            key: without_docs(value, docs, properties=key == "properties" and not properties)
            for key, value in node.items()
            if properties or key not in docs
        }
    if isinstance(node, list):
        return [without_docs(value, docs) for value in node]
    return node


def main(document: str, commit: str, date: str) -> None:
    schemas = json.loads(Path(document).read_text(encoding="utf-8"))["components"]["schemas"]
    kept: set[str] = set()
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name not in kept:
            kept.add(name)
            todo.extend(referred(schemas[name]))
    source = {"repository": "openai/openai-openapi", "path": "openapi.json", "commit": commit,
              "date": date}  # fmt: skip
    body = {
        "source": source,
        "schemas": {name: without_docs(schemas[name]) for name in sorted(kept)},
    }
    OUT.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:4])
