"""Every route of the service, in the order of the SPEC. Views parse, call and format.

`GET /image/<key>` is served in front of Flask, by `image_server.ImageServer`.

Each API route also answers without its `/v1` prefix: clients differ on who adds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, g, request

from . import answer
from .auth import require_api_key
from .bodies import read_body
from .client_tasks import recognise
from .errors import FluxError, InvalidRequestError, NotFoundError, StoreUnavailableError
from .home import home_page
from .image_server import image_url
from .logs import logged_stream
from .openai_format import (
    ChatRequest,
    completion_body,
    decode_json,
    image_item,
    images_body,
    model_entry,
    model_list_body,
    new_completion_id,
    parse_chat_request,
    parse_images_request,
    usage,
)
from .pipeline import Order, Plan, PromptChoice, Stored, collect
from .responses import json_response
from .state import current_state
from .streaming import SSE_HEADERS, ChatStream

bp = Blueprint("api", __name__)
OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
# The routes that draw: RATE_LIMIT applies to them (see ratelimit.py).
GENERATION_ENDPOINTS = ("api.chat_completions", "api.images_generations")


@bp.get("/")
def home() -> Response:
    """The home page: the service is up, what it offers, and a playground to try it."""
    return home_page(current_state())


@bp.post("/v1/chat/completions")
@bp.post("/chat/completions")
@require_api_key
def chat_completions() -> Response:
    """Draw the image the last user message describes; answer in markdown."""
    chat = parse_chat_request(decode_json(read_body()))
    state = current_state()
    language = state.settings.response_language
    task = recognise(chat.messages, language) if state.settings.skip_client_tasks else None
    if task is not None:
        # A chat app's title, tag or connection check: answer in words, draw nothing.
        g.log_fields["client_task"] = task.kind
        return _chat_answer(chat, state.models.pick(chat.model).id, task.answer, iter(()))
    plan = _plan(Order(chat.prompt, chat.model, seed=chat.seed), param="messages")
    parts = _parts(plan, state.pipeline.run(plan))
    return _chat_answer(chat, plan.model.id, answer.intro(language, plan), parts)


@bp.post("/v1/images/generations")
@bp.post("/images/generations")
@require_api_key
def images_generations() -> Response:
    """Draw `n` images at once for the OpenAI Images API."""
    images = parse_images_request(decode_json(read_body()))
    order = Order(images.prompt, images.model, images.n, images.seed, images.size, images.mime)
    plan = _plan(order, param="prompt")
    choice, stored = collect(current_state().pipeline.run(plan))
    g.log_fields["upstream_ms"] = _milliseconds(max(s.upstream_seconds for s in stored))
    link = _image_link()
    revised = choice.text if choice.optimized else None
    items = [image_item(link(s.key), s.image.data, images.response_format, revised) for s in stored]
    return json_response(images_body(int(time.time()), items))


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


@bp.get("/openapi.json")
def openapi() -> Response:
    """The API contract, `openapi.yaml`, as JSON."""
    return json_response(_contract())


@bp.get("/healthz")
def healthz() -> Response:
    """Up, and the image store reachable? 200 if so, 503 if not; no key needed."""
    store = current_state().store
    try:
        store.check()
    except StoreUnavailableError:
        return json_response({"status": "unavailable", "store": store.name}, 503)
    return json_response({"status": "ok", "store": store.name})


def _plan(order: Order, param: str) -> Plan:
    """The pipeline's plan for `order`, noting that this request draws (for RATE_LIMIT and
    the log); an unusable prompt names `param`, the field it came in."""
    try:
        plan = current_state().pipeline.plan(order)
    except InvalidRequestError as error:
        raise error.about(param) from None
    g.generating = True
    g.log_fields["model"] = plan.model.id
    return plan


def _image_link() -> Callable[[str], str]:
    """How to link to a stored image: PUBLIC_BASE_URL, or this request's origin as the
    proxy saw it."""
    base = current_state().settings.public_base_url or request.url_root.rstrip("/")
    return lambda key: image_url(base, key)


def _parts(plan: Plan, stages: Iterator[PromptChoice | Stored]) -> Iterator[str]:
    """The answer's parts, stage by stage, noting the upstream time for the request log.

    A stream runs these after the request's context has gone, so take what they need now.
    """
    language, fields, link = current_state().settings.response_language, g.log_fields, _image_link()

    def parts() -> Iterator[str]:
        for stage in stages:
            if isinstance(stage, PromptChoice):
                yield answer.prompt_part(language, stage)
                continue
            fields["upstream_ms"] = _milliseconds(stage.upstream_seconds)
            yield answer.result_part(language, plan, stage, link(stage.key))

    return parts()


def _chat_answer(chat: ChatRequest, model: str, intro: str, parts: Iterator[str]) -> Response:
    """The chat answer: `intro`, then each of `parts`, streamed or as one completion."""
    completion_id, created = new_completion_id(), int(time.time())
    settings = current_state().settings
    if chat.stream:
        language = settings.response_language
        stream = ChatStream(
            completion_id,
            created,
            model,
            chat.prompt,
            chat.include_usage,
            settings.stream_keepalive,
        )

        def failure(error: FluxError) -> str:
            return answer.failure_part(language, error.message)

        events = logged_stream(stream.events(intro, parts, failure), lambda: stream.outcome)
        return Response(events, mimetype="text/event-stream", headers=SSE_HEADERS)
    content = intro + "".join(parts)
    counts = usage(chat.prompt, content)
    return json_response(completion_body(completion_id, created, model, content, counts))


def _milliseconds(seconds: float) -> float:
    return round(seconds * 1000, 1)


@cache
def _contract() -> dict:
    # Imported here: only this route needs PyYAML, and most processes never serve it.
    import yaml  # noqa: PLC0415

    return yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
