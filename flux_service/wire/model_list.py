"""The models list on the wire: `/v1/models` and one entry of it."""

from __future__ import annotations


def model_entry(model_id: str, created: int, owned_by: str) -> dict:
    """One entry of `/v1/models`."""
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}


def model_list_body(entries: list[dict]) -> dict:
    """The `/v1/models` list."""
    return {"object": "list", "data": entries}
