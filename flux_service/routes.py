"""Every route of the service, in the order of the SPEC. Views parse, call and format.

`GET /image/<key>` is served in front of Flask, by `pictures.PictureServer`.

Each API route also answers without its `/v1` prefix: clients differ on who adds it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, g, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from . import answer
from .auth import require_api_key
from .catalog import MAX_SEED, lookup
from .errors import FluxError, NotFoundError, StoreUnavailableError
from .housekeeping import recognise
from .logs import logged_stream
from .openai_format import (
    ChatRequest,
    completion_body,
    decode_json,
    image_item,
    images_body,
    json_response,
    model_entry,
    model_list_body,
    new_completion_id,
    parse_chat_request,
    parse_images_request,
    usage,
)
from .pipeline import Job, Pipeline, PromptChoice, Stored
from .prompt import RATIO_SIZES
from .streaming import SSE_HEADERS, ChatStream

bp = Blueprint("api", __name__)
OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"


def _pipeline() -> Pipeline:
    return current_app.extensions["flux"]


def _image_base_url() -> str:
    """Where clients reach us: PUBLIC_BASE_URL, or this request's origin as the proxy saw it."""
    return _pipeline().settings.public_base_url or request.url_root.rstrip("/")


# The home page runs only its own files: no inline code, nothing from elsewhere. `{images}`
# adds PUBLIC_BASE_URL's origin, where the pictures are when it is not this one.
HOME_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:{images}; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@bp.get("/")
def home() -> Response:
    """The home page: the service is up, what it offers, and a playground to try it."""
    pipeline = _pipeline()
    settings = pipeline.settings
    # The page gets only what is safe to show, never the settings themselves.
    page = render_template(
        "home.html",
        models=list(pipeline.models.values()),
        default_model=settings.flux_model,
        optimization=settings.prompt_optimization,
        store=pipeline.store.name,
        expiration=settings.image_expiration,
        kept_for=_duration(settings.image_expiration),
        ratios=RATIO_SIZES,
        demo=settings.demo_mode,
    )
    images = f" {_origin(settings.public_base_url)}" if settings.public_base_url else ""
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = HOME_CSP.format(images=images)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _duration(seconds: int) -> str:
    """`seconds` in the largest unit that divides it: "30 minutes", "1 hour", "90 seconds"."""
    units = (("hour", 3600), ("minute", 60), ("second", 1))
    unit, size = next((unit, size) for unit, size in units if seconds % size == 0)
    count = seconds // size
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def _origin(url: str) -> str:
    """The scheme and host of `url`, without any user or password it may carry."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


@bp.post("/v1/chat/completions")
@bp.post("/chat/completions")
@require_api_key
def chat_completions() -> Response:
    """Draw the picture the last user message describes; answer in markdown."""
    chat = parse_chat_request(decode_json(_body()))
    pipeline = _pipeline()
    language = pipeline.settings.response_language
    task = recognise(chat.messages, language) if pipeline.settings.skip_client_tasks else None
    if task is not None:
        # A chat app's title, tag or connection check: answer in words, draw nothing.
        g.log_fields["client_task"] = task.kind
        return _chat_answer(chat, pipeline.model_for(chat.model).id, task.answer, iter(()))
    job = pipeline.plan(chat.prompt, chat.model, chat.seed)
    _generating(job.model.id)
    stages = pipeline.run(job, _image_base_url())
    return _chat_answer(chat, job.model.id, answer.intro(language, job), _parts(job, stages))


def _body() -> bytes:
    """The request body; 413 when it is over MAX_BODY_BYTES, however it was sent.

    Flask checks Content-Length up front, but cuts a chunked body off at the limit without a
    word: one more byte waiting behind it means the body was too large.
    """
    data = request.get_data(cache=False)
    at_limit = len(data) >= current_app.config["MAX_CONTENT_LENGTH"]
    if at_limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return data


# The routes that draw: RATE_LIMIT applies to them (see ratelimit.py).
GENERATION_ENDPOINTS = ("api.chat_completions", "api.images_generations")


def _generating(model: str) -> None:
    """Note that this request draws: it counts against RATE_LIMIT and logs its model."""
    g.generating = True
    g.log_fields["model"] = model


def _parts(job: Job, stages: Iterator[PromptChoice | Stored]) -> Iterator[str]:
    """The answer's parts, stage by stage, noting the upstream time for the request log.

    A stream runs these after the request's context has gone, so take what they need now.
    """
    language, fields = _pipeline().settings.response_language, g.log_fields

    def parts() -> Iterator[str]:
        for stage in stages:
            if isinstance(stage, Stored):
                fields["upstream_ms"] = round(stage.upstream_seconds * 1000, 1)
            yield answer.stage_part(language, job, stage)

    return parts()


def _chat_answer(chat: ChatRequest, model: str, intro: str, parts: Iterator[str]) -> Response:
    """The chat answer: `intro`, then each of `parts`, streamed or as one completion."""
    completion_id, created = new_completion_id(), int(time.time())
    if chat.stream:
        language = _pipeline().settings.response_language
        stream = ChatStream(completion_id, created, model, chat.prompt, chat.include_usage)

        def failure(error: FluxError) -> str:
            return answer.failure_part(language, error.message)

        events = logged_stream(stream.events(intro, parts, failure), lambda: stream.outcome)
        return Response(events, mimetype="text/event-stream", headers=SSE_HEADERS)
    content = intro + "".join(parts)
    counts = usage(chat.prompt, content)
    return json_response(completion_body(completion_id, created, model, content, counts))


@bp.post("/v1/images/generations")
@bp.post("/images/generations")
@require_api_key
def images_generations() -> Response:
    """Draw `n` pictures at once for the OpenAI Images API."""
    images = parse_images_request(decode_json(_body()))
    pipeline = _pipeline()
    jobs = [
        pipeline.plan(
            images.prompt,
            images.model,
            None if images.seed is None else (images.seed + index) % (MAX_SEED + 1),
            size=images.size,
            mime=images.mime,
            param="prompt",
        )
        for index in range(images.n)
    ]
    _generating(jobs[0].model.id)
    choice = pipeline.choose_prompt(jobs[0])
    revised = choice.text if choice.optimized else None
    drawn = pipeline.draw_all(jobs, choice, _image_base_url())
    g.log_fields["upstream_ms"] = round(max(s.upstream_seconds for s in drawn) * 1000, 1)
    items = [image_item(s.url, s.picture.data, images.response_format, revised) for s in drawn]
    return json_response(images_body(int(time.time()), items))


@bp.get("/v1/models")
@bp.get("/models")
@require_api_key
def list_models() -> Response:
    """The models this server offers, in the OpenAI list shape."""
    entries = [model_entry(m.id, m.created, m.owned_by) for m in _pipeline().models.values()]
    return json_response(model_list_body(entries))


@bp.get("/v1/models/<path:model_id>")
@bp.get("/models/<path:model_id>")
@require_api_key
def get_model(model_id: str) -> Response:
    """One model this server offers."""
    model = lookup(model_id)
    if model is None or model.id not in _pipeline().models:
        raise NotFoundError(f"The model {model_id!r} does not exist.", code="model_not_found")
    return json_response(model_entry(model.id, model.created, model.owned_by))


@bp.get("/openapi.json")
def openapi() -> Response:
    """The API contract, `openapi.yaml`, as JSON."""
    return json_response(_contract())


@cache
def _contract() -> dict:
    import yaml  # here: only this route needs it, and most processes never serve it

    return yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))


@bp.get("/healthz")
def healthz() -> Response:
    """Up, and the picture store reachable? 200 if so, 503 if not; no key needed."""
    store = _pipeline().store
    try:
        store.check()
    except StoreUnavailableError:
        return json_response({"status": "unavailable", "store": store.name}, 503)
    return json_response({"status": "ok", "store": store.name})
