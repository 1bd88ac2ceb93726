"""Running the MCP door's tools: a call made an order and a plan (`orders.py`, as every door
makes them), the pipeline run, each image stored and previewed, and the tool result.

Whatever the service refuses or fails at (a bad argument, a picture it may not fetch, the
day's budget spent, RATE_LIMIT, Workers AI down) becomes a tool error in the service's own
words, for the model to read: a result with `isError`, not a protocol error. One that is the
caller's fault counts as a refused request, as the 400 it is at any other door.
"""

from __future__ import annotations

import time

from flask import g, request

from ..errors import ClientGoneError, FluxError
from ..generation.plan import Order
from ..generation.previews import needs_preview, preview
from ..offload import off_the_event_loop
from ..upstream.catalog import ModelSpec
from ..wire.mcp_results import (
    Drawing,
    Drawn,
    ToolImage,
    drawing_result,
    failure_result,
    model_facts,
    models_result,
    read_drawing,
)
from ..wire.mcp_tools import MODELS
from .auth import current_client
from .connection import still_connected
from .orders import count_refusal, image_link, plan, sources
from .request_log import collect_noted
from .state import current_state


def editor() -> ModelSpec | None:
    """The model edit_image draws with by default; None when no served model edits."""
    state = current_state()
    return state.models.editor(None, state.settings.edit_model)


def call_tool(name: str, arguments: dict, version: str) -> dict:
    """The result of the tool `name` (one of ours) called with `arguments`."""
    state = current_state()
    g.log_fields["tool"] = name
    try:
        if name == MODELS:
            facts = model_facts(state.models, editor(), state.settings.flux_num_steps)
            return models_result(facts, version)
        return drawing_result(_draw(read_drawing(name, arguments, state.models)), version)
    except ClientGoneError:
        raise  # nobody is left to read a result
    except FluxError as error:
        g.log_fields["tool_error"] = error.code or error.type
        count_refusal(error.status)  # as the 400 it would be at any other door
        return failure_result(error.message)


def _draw(asked: Drawing) -> Drawn:
    """Draw what `asked` says, as any door draws: planned, limited, paid for, stored."""
    link = image_link()
    found = sources()
    order = Order(
        asked.prompt,
        asked.model,
        asked.n,
        seed=asked.seed,
        size=asked.size,
        mime=asked.mime,
        owner=current_client(),
        images=tuple(found.from_url(url) for url in asked.images),
        mask=found.from_url(asked.mask) if asked.mask is not None else None,
    )
    planned = plan(order, param="prompt", inline=True)
    stages = current_state().pipeline.run(planned, still_connected(request.environ))
    choice, stored = collect_noted(stages)
    now = time.time()
    pictures = []
    for image in stored:
        shown = image.image
        if needs_preview(shown):
            shown = off_the_event_loop(preview, shown)
        expires = None if image.kept is None else now + image.kept
        url = link(image.key)
        pictures.append(ToolImage(url, image.image, shown, image.seed, expires, image.reused))
    worked_from: tuple[tuple[str, int, int], ...] = ()
    if planned.edit is not None:
        edit = planned.edit
        worked_from = tuple(
            (origin, picture.width, picture.height)
            for picture, origin in zip(edit.images, edit.origins, strict=True)
        )
    model = planned.model.short_name
    return Drawn(model, planned.prompt.text, choice.text, tuple(pictures), worked_from)
