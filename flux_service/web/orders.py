"""A request made an order, and the order a plan: what every door does between reading a
body and running the pipeline. Who asks, where its images come from, where links to the
images will point, and what it takes of the limits before anything is drawn."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import g, request

from .. import metrics
from ..errors import InvalidRequestError, UnavailableError
from ..generation.plan import Order, Plan
from ..generation.sources import Sources
from ..stores.base import image_url
from ..stores.store_urls import public_links
from ..wire.chat import ChatRequest
from ..wire.client_tasks import ClientTask, recognise
from ..wire.images import ImagesRequest
from .auth import current_client
from .byte_budget import hold_for_request
from .forwarded import origin
from .state import current_state

# What a base64 image may weigh in an answer, at most: 3 bytes a pixel, and a third more.
INLINE_BYTES_PER_PIXEL = 4
UNSENT_RETRY_AFTER = 5


def client_task(chat: ChatRequest) -> ClientTask | None:
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


def chat_order(
    chat: ChatRequest,
    *,
    size: tuple[int, int] | None = None,
    mime: str | None = None,
    quality: str | None = None,
) -> Order:
    """The order a chat asks for: its prompt, the images of its last message, and the last
    image of ours it showed, for a follow-up; `size`, `mime` and `quality` as a tool chose."""
    found = sources()
    attached = tuple(found.from_url(url) for url in chat.images)
    key = found.own_key(chat.earlier) if chat.earlier else None
    return Order(
        chat.prompt,
        chat.model,
        chat.n,
        seed=chat.seed,
        size=size,
        mime=mime,
        owner=current_client(),
        images=attached,
        earlier=found.earlier(key) if key else None,
        earlier_prompt=chat.earlier_prompt,
        quality=quality,
    )


def images_order(images: ImagesRequest) -> Order:
    """The order of an Images API request, generations and edits alike."""
    found = sources()
    return Order(
        images.prompt,
        images.model,
        images.n,
        seed=images.seed,
        size=images.size,
        mime=images.mime,
        owner=current_client(),
        images=tuple(found.uploaded(data) for data in images.images),
        mask=found.uploaded(images.mask) if images.mask is not None else None,
        quality=images.quality,
    )


def plan(order: Order, param: str, inline: bool = False) -> Plan:
    """The plan for `order`, with all this request may need before anything is drawn: room
    for its answer in memory when the images go `inline` (base64), and its images counted
    against RATE_LIMIT. An unusable prompt names `param`, its field."""
    state = current_state()
    try:
        planned = state.planner.plan(order)
    except InvalidRequestError as error:
        raise error.about(param) from None
    if inline:
        _hold_unsent(len(planned.seeds) * planned.width * planned.height * INLINE_BYTES_PER_PIXEL)
    if state.limits is not None:
        state.limits.take(current_client(), len(planned.seeds))  # every image, before any
    g.generating = True
    cost = planned.cost.times(len(planned.seeds))
    g.log_fields.update(
        model=planned.model.id,
        key=metrics.short_key(planned.owner),
        neurons=round(cost.neurons, 2),
        dollars=round(cost.dollars, 6),
    )
    if not cost.published:
        g.log_fields["price"] = "unpublished"
    return planned


def count_refusal(status: int) -> None:
    """A request refused with `status` (4xx, not a rate limit itself) counts against
    RATE_LIMIT's looser limit on refused requests, unless it got as far as `plan`, which
    counted its images already. Every door's refusals and the MCP tools' errors alike."""
    limits = current_state().limits
    refused = 400 <= status < 500 and status != 429
    if limits is not None and refused and not g.get("generating"):
        limits.count_refusal(current_client())


def _hold_unsent(size: int) -> None:
    """Take `size` bytes of MAX_UNSENT_BYTES until the answer has been sent (or given up)."""
    state = current_state()
    refusal = UnavailableError(
        "This server holds as many large answers for their clients as it may; "
        "try again in a few seconds.",
        retry_after=UNSENT_RETRY_AFTER,
    )
    hold_for_request(state.unsent, size, state.settings.generation_wait, refusal)


def sources() -> Sources:
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


def image_link() -> Callable[[str], str]:
    """How to link to a stored image: PUBLIC_BASE_URL, or where this request reached us.

    Decided before anything is drawn: a request without a usable host gets no link to
    nowhere (`http://0.0.0.0/…`), but a 400 that says what to do.
    """
    state = current_state()
    bucket = public_links(state.settings)
    if bucket:
        return lambda key: f"{bucket}{key}"  # a public bucket serves its images itself
    base = state.settings.public_base_url or _origin()
    if base is None:
        raise InvalidRequestError(
            "This request names no valid host (its Host header is missing or malformed) and "
            "this server has no PUBLIC_BASE_URL, so it cannot link to the image: send a Host "
            "header, or ask the operator to set PUBLIC_BASE_URL.",
            code="no_host",
        )
    return lambda key: image_url(base, key)
