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

from flask import Blueprint, Response, g, request

from config import public_links

from .. import metrics
from ..errors import (
    FluxError,
    InvalidRequestError,
    NotFoundError,
    StoreUnavailableError,
    UnavailableError,
)
from ..generation.pipeline import Stored, collect
from ..generation.plan import Order, Plan, PromptChoice
from ..generation.sources import Sources
from ..stores.base import image_url
from ..wire import markdown
from ..wire.chat import (
    ChatRequest,
    completion_body,
    new_completion_id,
    parse_chat_request,
    usage,
)
from ..wire.client_tasks import ClientTask, recognise
from ..wire.images import (
    Delivered,
    ImagesRequest,
    image_event,
    image_item,
    images_body,
    parse_edit_request,
    parse_images_request,
)
from ..wire.model_list import model_entry, model_list_body
from ..wire.responses import (
    Ids,
    Numbered,
    Picture,
    error_event,
    output_items,
    parse_responses_request,
    response_body,
    response_events,
)
from ..wire.sse import SSE_HEADERS, ChatStream, event_stream
from .auth import check_metrics_access, is_api_key, presented_key, require_api_key
from .bodies import read_form, read_json
from .byte_budget import hold_for_request
from .connection import still_connected
from .forwarded import client_address, origin
from .home import home_page
from .json_response import json_response
from .ratelimit import client_id
from .request_log import logged_stream
from .state import current_state

bp = Blueprint("api", __name__)
# What a base64 image may weigh in an answer, at most: 3 bytes a pixel, and a third more.
INLINE_BYTES_PER_PIXEL = 4
UNSENT_RETRY_AFTER = 5
OPENAPI_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"


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
    task = _client_task(chat)
    if task is not None:
        # A chat app's title, tag or connection check: answer in words, draw nothing.
        return _chat_answer(chat, state.models.pick(chat.model).id, task.answer, iter(()))
    link = _image_link()
    order = _chat_order(chat)
    plan = _plan(order, param="messages")
    parts = _parts(plan, state.pipeline.run(plan, still_connected(request.environ)), link)
    return _chat_answer(chat, plan.model.id, markdown.intro(language, plan), parts, len(plan.seeds))


@bp.post("/v1/responses")
@bp.post("/responses")
@require_api_key
def responses() -> Response:
    """The Responses API: draw the image the input describes; answer with it in base64
    (an image generation call) and the chat answer's markdown (a message)."""
    asked = parse_responses_request(read_json())
    chat, ids, created = asked.chat, Ids.new(), int(time.time())
    state = current_state()
    language = state.settings.response_language
    task = _client_task(chat)
    if task is not None:
        model, text = state.models.pick(chat.model).id, task.answer
        return _response_answer(chat, ids, created, model, lambda: (None, text))
    link = _image_link()
    order = _chat_order(chat, size=asked.size, mime=asked.mime, quality=asked.quality)
    plan = _plan(order, param="input", inline=True)
    stages = state.pipeline.run(plan, still_connected(request.environ))
    fields = g.log_fields

    def finish() -> tuple[Picture | None, str]:
        texts, picture = [markdown.intro(language, plan)], None
        choice = PromptChoice(plan.prompt.text)
        for stage in stages:
            if isinstance(stage, PromptChoice):
                choice = stage
                texts.append(markdown.prompt_part(language, stage))
                continue
            _note(fields, stage)
            texts.append(markdown.result_part(language, plan, stage, link(stage.key)))
            delivered = _delivered(plan, choice, stage)
            picture = Picture(stage.image.data, delivered, edited=plan.edit is not None)
        return picture, "".join(texts)

    return _response_answer(chat, ids, created, plan.model.id, finish, draws=True)


def _client_task(chat: ChatRequest) -> ClientTask | None:
    """The client task `chat` is, noted in the log and counted; None for a real request,
    and with SKIP_CLIENT_TASKS off."""
    settings = current_state().settings
    if not settings.skip_client_tasks:
        return None
    task = recognise(chat.messages, settings.response_language)
    if task is not None:
        g.log_fields["client_task"] = task.kind
        metrics.client_task(task.kind)
    return task


def _response_answer(
    chat: ChatRequest,
    ids: Ids,
    created: int,
    model: str,
    finish: Callable[[], tuple[Picture | None, str]],
    draws: bool = False,
) -> Response:
    """A Responses answer: `finish()` gives the picture and the text, at once or streamed."""
    if chat.stream:
        numbered = Numbered()
        sent = response_events(ids, created, model, chat.prompt, draws, finish, numbered)
        return _event_answer(sent, lambda error: error_event(error, numbered))
    picture, text = finish()
    output = output_items(ids, picture, text)
    return json_response(response_body(ids.response, created, model, output, chat.prompt, text))


@bp.post("/v1/images/generations")
@bp.post("/images/generations")
@require_api_key
def images_generations() -> Response:
    """Draw `n` images at once for the OpenAI Images API."""
    return _images_answer(parse_images_request(read_json()), "image_generation")


@bp.post("/v1/images/edits")
@bp.post("/images/edits")
@require_api_key
def images_edits() -> Response:
    """Draw `n` edits of the uploaded images at once (the Images API's edits)."""
    form, files = read_form()
    return _images_answer(parse_edit_request(form, files), "image_edit")


def _images_answer(images: ImagesRequest, kind: str) -> Response:
    """Generations and edits alike: plan, draw, and answer with URLs or base64, or with an
    event per image as each is done (`stream`). `kind` names the stream's events."""
    inline = images.response_format == "b64_json" or images.stream
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
        quality=images.quality,
    )
    plan = _plan(order, param="prompt", inline=inline)
    stages = current_state().pipeline.run(plan, still_connected(request.environ))
    created = int(time.time())
    if images.stream:
        return _event_answer(_image_events(kind, created, plan, stages))
    choice, stored = collect(stages)
    for image in stored:
        _note(g.log_fields, image)
    revised = choice.text if choice.optimized else None
    items = [
        image_item(s.image.data, link(s.key) if link else None, revised, s.reused) for s in stored
    ]
    return json_response(images_body(created, items, _delivered(plan, choice, stored[0])))


def _image_events(
    kind: str, created: int, plan: Plan, stages: Iterator[PromptChoice | Stored]
) -> Iterator[dict]:
    """An image stream's events: one `<kind>.completed` for each image as it is stored.
    No partial images: the models draw in one go, and a blurred copy would be made up.

    The stream runs after the request's context has gone, so take what it needs now.
    """
    fields = g.log_fields

    def events() -> Iterator[dict]:
        choice = PromptChoice(plan.prompt.text)
        for stage in stages:
            if isinstance(stage, PromptChoice):
                choice = stage
                continue
            _note(fields, stage)
            delivered = _delivered(plan, choice, stage)
            yield image_event(kind, created, stage.image.data, delivered, stage.reused)

    return events()


def _delivered(plan: Plan, choice: PromptChoice, stored: Stored) -> Delivered:
    return Delivered(
        stored.image.width, stored.image.height, stored.image.mime, plan.quality, choice.text
    )


def _event_answer(
    events: Iterator[dict], failure: Callable[[FluxError], dict] | None = None
) -> Response:
    """A stream of named events, with keep-alives, logged when it ends; `failure` makes the
    event a failure ends it with."""
    outcome: list[str] = []
    keepalive = current_state().settings.stream_keepalive
    stream = event_stream(events, keepalive, outcome.append, failure)
    logged = logged_stream(stream, lambda: outcome[0] if outcome else None)
    return Response(logged, mimetype="text/event-stream", headers=SSE_HEADERS)


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
    """Up, and the image store reachable? 200 if so, 503 if not; no key needed. Resting
    Cloudflare accounts are shown, and answer 200: they are no broken instance."""
    state = current_state()
    store = state.store
    accounts = [account.to_dict() for account in state.accounts.states()]
    try:
        store.check()
    except StoreUnavailableError:
        return json_response(
            {"status": "unavailable", "store": store.name, "accounts": accounts}, 503
        )
    return json_response({"status": "ok", "store": store.name, "accounts": accounts})


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    """Counts for Prometheus, summed over every worker: for METRICS_TOKEN's bearer if it is
    set, else for this machine alone."""
    state = current_state()
    settings = state.settings
    check_metrics_access(request.headers, request.remote_addr or "", settings.metrics_token)
    metrics.accounts([account.rest is None for account in state.accounts.states()])
    return Response(
        metrics.exposition(settings.prometheus_multiproc_dir), content_type=metrics.CONTENT_TYPE
    )


def _chat_order(chat: ChatRequest, **choices: object) -> Order:
    """The order a chat asks for: its prompt, the images of its last message, and the last
    image of ours it showed, for a follow-up."""
    sources = _sources()
    attached = tuple(sources.from_url(url) for url in chat.images)
    key = sources.own_key(chat.earlier) if chat.earlier else None
    return Order(
        chat.prompt,
        chat.model,
        chat.n,
        seed=chat.seed,
        owner=client(),
        images=attached,
        earlier=sources.earlier(key) if key else None,
        earlier_prompt=chat.earlier_prompt,
        **choices,  # type: ignore[arg-type]
    )


def _plan(order: Order, param: str, inline: bool = False) -> Plan:
    """The pipeline's plan for `order`, with all this request may need before anything is
    drawn: room for its answer in memory when the images go `inline` (base64), and its
    images counted against RATE_LIMIT. An unusable prompt names `param`, its field."""
    state = current_state()
    try:
        plan = state.planner.plan(order)
    except InvalidRequestError as error:
        raise error.about(param) from None
    if inline:
        _hold_unsent(len(plan.seeds) * plan.width * plan.height * INLINE_BYTES_PER_PIXEL)
    if state.limits is not None:
        state.limits.take(client(), len(plan.seeds))  # every image counts, before any is drawn
    g.generating = True
    cost = plan.cost.times(len(plan.seeds))
    g.log_fields.update(
        model=plan.model.id,
        key=metrics.short_key(plan.owner),
        neurons=round(cost.neurons, 2),
        dollars=round(cost.dollars, 6),
    )
    if not cost.published:
        g.log_fields["price"] = "unpublished"
    return plan


def _hold_unsent(size: int) -> None:
    """Take `size` bytes of MAX_UNSENT_BYTES until the answer has been sent (or given up)."""
    state = current_state()
    refusal = UnavailableError(
        "This server holds as many large answers for their clients as it may; "
        "try again in a few seconds.",
        retry_after=UNSENT_RETRY_AFTER,
    )
    hold_for_request(state.unsent, size, state.settings.generation_wait, refusal)


def client() -> str:
    """Who this request is, for rate limits and shares: a digest of its key when it is one
    of API_KEY, else of its address, so a client sending a new made-up key each time is
    still one client. Worked out once per request."""
    if "client" not in g:
        state = current_state()
        key = presented_key(request.headers)
        known = key if is_api_key(key, state.settings.api_keys) else None
        address = client_address(request.environ, state.proxies)
        g.client = client_id(known, address, state.settings.key_digest_secret)
    return str(g.client)


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
        public_links(state.settings),
    )


def _origin() -> str | None:
    return origin(request.environ, current_state().proxies)


def _image_link() -> Callable[[str], str]:
    """How to link to a stored image: PUBLIC_BASE_URL, or where this request reached us.

    Decided before anything is drawn: a request without a usable host gets no link to
    nowhere (`http://0.0.0.0/…`), but a 400 that says what to do.
    """
    state = current_state()
    bucket = public_links(state.settings)
    if bucket:
        return lambda key: f"{bucket}{key}"  # a public bucket serves its pictures itself
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
) -> Iterator[tuple[int, str]]:
    """The answer's parts, stage by stage, each with the choice it belongs to: the prompt
    goes to every choice, each image to its own. Notes the upstream time for the log.

    A stream runs these after the request's context has gone, so take what they need now.
    """
    language, fields = current_state().settings.response_language, g.log_fields

    def parts() -> Iterator[tuple[int, str]]:
        for stage in stages:
            if isinstance(stage, PromptChoice):
                part = markdown.prompt_part(language, stage)
                yield from ((index, part) for index in range(len(plan.seeds)))
                continue
            _note(fields, stage)
            yield stage.index, markdown.result_part(language, plan, stage, link(stage.key))

    return parts()


def _chat_answer(
    chat: ChatRequest, model: str, intro: str, parts: Iterator[tuple[int, str]], choices: int = 1
) -> Response:
    """The chat answer: `intro`, then each of `parts`, streamed or as one completion, in
    `choices` choices (a client task has one)."""
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
            choices,
        )

        def failure(error: FluxError) -> str:
            return markdown.failure_part(language, error.message)

        events = logged_stream(stream.events(intro, parts, failure), lambda: stream.outcome)
        return Response(events, mimetype="text/event-stream", headers=SSE_HEADERS)
    contents = [intro] * choices
    for index, part in parts:
        contents[index] += part
    counts = usage(chat.prompt, "".join(contents))
    return json_response(completion_body(completion_id, created, model, contents, counts))


def _note(fields: dict, stored: Stored) -> None:
    """Note for the log line the longest wait on Workers AI, how many images were reused,
    not drawn, and what the key has spent."""
    waited = _milliseconds(stored.upstream_seconds)
    fields["upstream_ms"] = max(fields.get("upstream_ms", 0.0), waited)
    if stored.reused:
        fields["reused"] = fields.get("reused", 0) + 1
    if stored.key_spent is not None:
        spent = round(stored.key_spent, 2)
        fields["key_neurons_today"] = max(fields.get("key_neurons_today", 0.0), spent)


def _milliseconds(seconds: float) -> float:
    return round(seconds * 1000, 1)


@cache
def _contract() -> dict:
    # Imported here: only this route needs PyYAML, and most processes never serve it.
    import yaml  # noqa: PLC0415

    return yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
