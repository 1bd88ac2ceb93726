"""Every route of the service, in the order of the SPEC. Views parse, call and format.

`GET /image/<key>` is served in front of Flask, by `image_server.ImageServer`.

Each API route also answers without its `/v1` prefix: clients differ on who adds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, after_this_request, g, request

from . import answer
from .auth import presented_key, require_api_key
from .bodies import read_form, read_json
from .client_tasks import recognise
from .connection import still_connected
from .errors import (
    FluxError,
    InvalidRequestError,
    NotFoundError,
    StoreUnavailableError,
    UnavailableError,
)
from .forwarded import client_address, origin
from .home import home_page
from .image_server import image_url
from .image_sources import Sources
from .images_format import (
    ImagesRequest,
    image_item,
    images_body,
    parse_edit_request,
    parse_images_request,
)
from .openai_format import (
    ChatRequest,
    completion_body,
    model_entry,
    model_list_body,
    new_completion_id,
    parse_chat_request,
    usage,
)
from .pipeline import Order, Plan, PromptChoice, Stored, collect
from .ratelimit import client_id
from .request_log import logged_stream
from .responses import json_response
from .state import current_state
from .streaming import SSE_HEADERS, ChatStream

bp = Blueprint("api", __name__)
# What a base64 image may weigh in an answer, at most: 3 bytes a pixel, and a third more.
INLINE_BYTES_PER_PIXEL = 4
UNSENT_RETRY_AFTER = 5
OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
# The routes a client refused too often must wait for (see ratelimit.py).
LIMITED_ENDPOINTS = (
    "api.chat_completions",
    "api.images_generations",
    "api.images_edits",
    "api.list_models",
    "api.get_model",
)


@bp.get("/")
def home() -> Response:
    """The home page: the service is up, what it offers, and a playground to try it."""
    return home_page(current_state())


@bp.post("/v1/chat/completions")
@bp.post("/chat/completions")
@require_api_key
def chat_completions() -> Response:
    """Draw the image the last user message describes; answer in markdown."""
    chat = parse_chat_request(read_json())
    state = current_state()
    language = state.settings.response_language
    task = recognise(chat.messages, language) if state.settings.skip_client_tasks else None
    if task is not None:
        # A chat app's title, tag or connection check: answer in words, draw nothing.
        g.log_fields["client_task"] = task.kind
        return _chat_answer(chat, state.models.pick(chat.model).id, task.answer, iter(()))
    link = _image_link()
    sources = _sources()
    attached = tuple(sources.from_url(url) for url in chat.images)
    key = sources.own_key(chat.earlier) if chat.earlier else None
    order = Order(
        chat.prompt,
        chat.model,
        seed=chat.seed,
        owner=client(),
        images=attached,
        earlier=sources.earlier(key) if key else None,
        earlier_prompt=chat.earlier_prompt,
    )
    plan = _plan(order, param="messages")
    parts = _parts(plan, state.pipeline.run(plan, still_connected(request.environ)), link)
    return _chat_answer(chat, plan.model.id, answer.intro(language, plan), parts)


@bp.post("/v1/images/generations")
@bp.post("/images/generations")
@require_api_key
def images_generations() -> Response:
    """Draw `n` images at once for the OpenAI Images API."""
    return _images_answer(parse_images_request(read_json()))


@bp.post("/v1/images/edits")
@bp.post("/images/edits")
@require_api_key
def images_edits() -> Response:
    """Draw `n` edits of the uploaded images at once (the Images API's edits)."""
    form, files = read_form()
    return _images_answer(parse_edit_request(form, files))


def _images_answer(images: ImagesRequest) -> Response:
    """Generations and edits alike: plan, draw, and answer with URLs or base64."""
    inline = images.response_format == "b64_json"
    link = None if inline else _image_link()
    sources = _sources()
    order = Order(
        images.prompt,
        images.model,
        images.n,
        images.seed,
        images.size,
        images.mime,
        client(),
        tuple(sources.uploaded(data) for data in images.images),
        sources.uploaded(images.mask) if images.mask is not None else None,
    )
    plan = _plan(order, param="prompt", inline=inline)
    choice, stored = collect(current_state().pipeline.run(plan, still_connected(request.environ)))
    g.log_fields["upstream_ms"] = _milliseconds(max(s.upstream_seconds for s in stored))
    revised = choice.text if choice.optimized else None
    items = [image_item(s.image.data, link(s.key) if link else None, revised) for s in stored]
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


def _plan(order: Order, param: str, inline: bool = False) -> Plan:
    """The pipeline's plan for `order`, with all this request may need before anything is
    drawn: room for its answer in memory when the images go `inline` (base64), and its
    images counted against RATE_LIMIT. An unusable prompt names `param`, its field."""
    state = current_state()
    try:
        plan = state.pipeline.plan(order)
    except InvalidRequestError as error:
        raise error.about(param) from None
    if inline:
        _hold_unsent(len(plan.seeds) * plan.width * plan.height * INLINE_BYTES_PER_PIXEL)
    if state.limits is not None:
        state.limits.take(client(), len(plan.seeds))  # every image counts, before any is drawn
    g.generating = True
    g.log_fields["model"] = plan.model.id
    return plan


def _hold_unsent(size: int) -> None:
    """Take `size` bytes of MAX_UNSENT_BYTES until the answer has been sent (or given up)."""
    state = current_state()
    unsent = state.unsent
    if not unsent.take(size, state.settings.generation_wait):
        raise UnavailableError(
            "This server holds as many large answers for their clients as it may; "
            "try again in a few seconds.",
            retry_after=UNSENT_RETRY_AFTER,
        )

    @after_this_request
    def give_back(response: Response) -> Response:
        response.call_on_close(lambda: unsent.give_back(size))
        return response


def client() -> str:
    """Who this request is, for rate limits: a digest of its key, else of its address."""
    address = client_address(request.environ, current_state().proxies)
    return client_id(presented_key(request.headers), address)


def _sources() -> Sources:
    """Where this request's images are read from: our store for ours, the fetcher else."""
    state = current_state()
    hosts = {
        urlsplit(base).hostname for base in (state.settings.public_base_url, _origin()) if base
    }
    return Sources(
        state.store,
        state.fetcher,
        state.settings.max_image_bytes,
        frozenset(host for host in hosts if host),
    )


def _origin() -> str | None:
    return origin(request.environ, current_state().proxies)


def _image_link() -> Callable[[str], str]:
    """How to link to a stored image: PUBLIC_BASE_URL, or where this request reached us.

    Decided before anything is drawn: a request without a usable host gets no link to
    nowhere (`http://0.0.0.0/…`), but a 400 that says what to do.
    """
    state = current_state()
    base = state.settings.public_base_url or _origin()
    if base is None:
        raise InvalidRequestError(
            "This request names no valid host (its Host header is missing or malformed) and "
            "this server has no PUBLIC_BASE_URL, so it cannot link to the image: send a Host "
            "header, or ask the operator to set PUBLIC_BASE_URL.",
            code="no_host",
        )
    return lambda key: image_url(base, key)


def _parts(
    plan: Plan, stages: Iterator[PromptChoice | Stored], link: Callable[[str], str]
) -> Iterator[str]:
    """The answer's parts, stage by stage, noting the upstream time for the request log.

    A stream runs these after the request's context has gone, so take what they need now.
    """
    language, fields = current_state().settings.response_language, g.log_fields

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
