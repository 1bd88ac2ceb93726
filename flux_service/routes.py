"""Every route of the service, in the order of the SPEC. Views parse, call and format."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from . import answer
from .auth import require_api_key
from .catalog import lookup
from .errors import FluxError, NotFoundError
from .images import EXTENSIONS
from .openai_format import (
    completion_body,
    decode_json,
    model_entry,
    model_list_body,
    new_completion_id,
    parse_chat_request,
    usage,
)
from .pipeline import Pipeline
from .streaming import SSE_HEADERS, ChatStream

bp = Blueprint("api", __name__)


def _pipeline() -> Pipeline:
    return current_app.extensions["flux"]


def _image_base_url() -> str:
    """Where clients reach us: PUBLIC_BASE_URL, or this request's origin as the proxy saw it."""
    return _pipeline().settings.public_base_url or request.url_root.rstrip("/")


@bp.get("/")
def home() -> str:
    """The home page: the service is up, what it offers."""
    pipeline = _pipeline()
    return render_template(
        "home.html", settings=pipeline.settings, models=list(pipeline.models.values())
    )


@bp.post("/v1/chat/completions")
@require_api_key
def chat_completions() -> Response:
    """Draw the picture the last user message describes; answer in markdown."""
    chat = parse_chat_request(decode_json(request.get_data()))
    pipeline = _pipeline()
    language = pipeline.settings.response_language
    job = pipeline.plan(chat.prompt, chat.model, chat.seed)
    completion_id, created = new_completion_id(), int(time.time())
    stages = pipeline.run(job, _image_base_url())
    parts = (answer.stage_part(language, job, stage) for stage in stages)
    if chat.stream:
        stream = ChatStream(completion_id, created, job.model.id, chat.prompt, chat.include_usage)

        def failure(error: FluxError) -> str:
            return answer.failure_part(language, error.message)

        events = stream.events(answer.intro(language, job), parts, failure)
        return Response(events, mimetype="text/event-stream", headers=SSE_HEADERS)
    content = answer.intro(language, job) + "".join(parts)
    return jsonify(
        completion_body(completion_id, created, job.model.id, content, usage(chat.prompt, content))
    )


@bp.get("/v1/models")
@require_api_key
def list_models() -> Response:
    """The models this server offers, in the OpenAI list shape."""
    entries = [model_entry(m.id, m.created, m.owned_by) for m in _pipeline().models.values()]
    return jsonify(model_list_body(entries))


@bp.get("/v1/models/<path:model_id>")
@require_api_key
def get_model(model_id: str) -> Response:
    """One model this server offers."""
    model = lookup(model_id)
    if model is None or model.id not in _pipeline().models:
        raise NotFoundError(f"The model {model_id!r} does not exist.", code="model_not_found")
    return jsonify(model_entry(model.id, model.created, model.owned_by))


@bp.get("/image/<key>")
def image(key: str) -> Response:
    """A stored picture, cacheable for no longer than it has left to live."""
    stored = _pipeline().store.get(key)
    if stored is None:
        raise NotFoundError(
            "This image does not exist or has expired; generate it again.",
            code="image_not_found",
        )
    response = Response(stored.data, mimetype=stored.mime)
    response.headers["Cache-Control"] = f"public, max-age={int(stored.seconds_left)}"
    response.headers["Content-Disposition"] = (
        f'inline; filename="flux-{key[:8]}.{EXTENSIONS[stored.mime]}"'
    )
    return response
