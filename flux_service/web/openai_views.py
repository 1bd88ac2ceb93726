"""The OpenAI door: Chat Completions, the Responses API, the Images API (generations and
edits) and the models list. Each view parses its body, makes an order and a plan
(`orders.py`), runs the pipeline and hands the run to its answer (`openai_answers.py`).

Each route also answers without its `/v1` prefix: clients differ on who adds it.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, request

from ..errors import NotFoundError
from ..wire import markdown
from ..wire.chat import parse_chat_request
from ..wire.images import ImagesRequest, parse_edit_request, parse_images_request
from ..wire.model_list import model_entry, model_list_body
from ..wire.responses import Ids, parse_responses_request
from .auth import require_api_key
from .bodies import read_form, read_json
from .connection import still_connected
from .json_response import json_response
from .openai_answers import (
    chat_answer,
    chat_parts,
    images_answer,
    response_answer,
    response_parts,
)
from .orders import chat_order, client_task, image_link, images_order, plan
from .state import current_state

bp = Blueprint("openai", __name__)


@bp.post("/v1/chat/completions")
@bp.post("/chat/completions")
@require_api_key
def chat_completions() -> Response:
    """Draw the image the last user message describes; answer in markdown."""
    chat = parse_chat_request(read_json())
    state = current_state()
    task = client_task(chat)
    if task is not None:
        # A chat app's title, tag or connection check: answer in words, draw nothing.
        return chat_answer(chat, state.models.pick(chat.model).id, task.answer, iter(()))
    link = image_link()
    planned = plan(chat_order(chat), param="messages")
    stages = state.pipeline.run(planned, still_connected(request.environ))
    intro = markdown.intro(state.settings.response_language, planned)
    parts = chat_parts(planned, stages, link)
    return chat_answer(chat, planned.model.id, intro, parts, len(planned.seeds))


@bp.post("/v1/responses")
@bp.post("/responses")
@require_api_key
def responses() -> Response:
    """The Responses API: draw the image the input describes; answer with it in base64
    (an image generation call) and the chat answer's markdown (a message)."""
    asked = parse_responses_request(read_json())
    chat, ids, created = asked.chat, Ids.new(), int(time.time())
    state = current_state()
    task = client_task(chat)
    if task is not None:
        model, text = state.models.pick(chat.model).id, task.answer
        return response_answer(chat, ids, created, model, lambda: (None, text))
    link = image_link()
    order = chat_order(chat, size=asked.size, mime=asked.mime, quality=asked.quality)
    planned = plan(order, param="input", inline=True)
    stages = state.pipeline.run(planned, still_connected(request.environ))
    finish = response_parts(planned, stages, link)
    return response_answer(chat, ids, created, planned.model.id, finish, draws=True)


@bp.post("/v1/images/generations")
@bp.post("/images/generations")
@require_api_key
def images_generations() -> Response:
    """Draw `n` images at once for the OpenAI Images API."""
    return _images(parse_images_request(read_json()), "image_generation")


@bp.post("/v1/images/edits")
@bp.post("/images/edits")
@require_api_key
def images_edits() -> Response:
    """Draw `n` edits of the uploaded images at once (the Images API's edits)."""
    form, files = read_form()
    return _images(parse_edit_request(form, files), "image_edit")


def _images(images: ImagesRequest, kind: str) -> Response:
    """Generations and edits alike: URLs or base64, or an event per image (`kind`)."""
    inline = images.response_format == "b64_json" or images.stream
    link = None if inline else image_link()
    planned = plan(images_order(images), param="prompt", inline=inline)
    stages = current_state().pipeline.run(planned, still_connected(request.environ))
    return images_answer(images, kind, planned, stages, link)


@bp.get("/v1/models")
@bp.get("/models")
@require_api_key
def list_models() -> Response:
    """The models this server offers, in the OpenAI list shape."""
    offered = current_state().models.offered
    return json_response(
        model_list_body([model_entry(m.id, m.created, m.owned_by) for m in offered])
    )


@bp.get("/v1/models/<path:model_id>")
@bp.get("/models/<path:model_id>")
@require_api_key
def get_model(model_id: str) -> Response:
    """One model this server offers."""
    model = current_state().models.find(model_id)
    if model is None:
        raise NotFoundError(f"The model {model_id!r} does not exist.", code="model_not_found")
    return json_response(model_entry(model.id, model.created, model.owned_by))
