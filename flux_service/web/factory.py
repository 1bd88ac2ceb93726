"""The application factory: opens the store, builds the clients and the pipeline, and wires
the blueprint, the error handlers and CORS around them."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import requests
from flask import Flask, Response, current_app, request
from flask_cors import CORS

from config import Settings, load_settings, store_scheme

from ..clock import Clock, utc_now
from ..generation.fetch import ImageFetcher
from ..generation.pipeline import Pipeline
from ..generation.plan import Planner
from ..generation.reuse import REUSE_MARGIN, Reuse
from ..generation.slots import Slots
from ..generation.spending import Counts, MemoryCounts, Spending
from ..logs import configure_logging
from ..stores.base import ImageStore, MemoryStore
from ..stores.file_index import FileIndex
from ..stores.file_store import FileStore
from ..stores.reuse_index import Index, MemoryIndex
from ..stores.store_urls import shared_redis
from ..upstream.accounts import AccountPool
from ..upstream.catalog import ServedModels
from ..upstream.http_session import http_session
from ..upstream.optimizer import PromptOptimizer
from ..upstream.workers_ai import WorkersAIClient
from . import a1111_views, mcp_views, openai_views, service_views
from .auth import current_client, requires_key
from .byte_budget import ByteBudget
from .forwarded import Proxies
from .image_server import ImageServer
from .json_response import register_error_handlers
from .orders import count_refusal
from .ratelimit import RateLimits
from .request_log import init_request_log
from .state import State, current_state

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

# Headers a browser may read from our answers (the SDKs' retry logic uses them).
# ETag and Content-Range let a page script revalidate an image or fetch the rest of one.
EXPOSED_HEADERS = ["Retry-After", "x-should-retry", "Content-Disposition", "ETag", "Content-Range"]
PREFLIGHT_MAX_AGE = 86400
# What Flask-CORS and _harden add to the app's answers, for the images served before it.
IMAGE_HEADERS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", ", ".join(EXPOSED_HEADERS)),
    ("X-Content-Type-Options", "nosniff"),
]


def create_app(
    settings: Settings | None = None,
    session: requests.Session | None = None,
    now: Clock = utc_now,
) -> Flask:
    """Build the service from `settings` (default: the environment and `.env`).

    `session` carries every upstream call (default: one built from the settings); tests pass
    one that reaches the Workers AI stand-in inside the test process, and a `now` whose
    clock they control, for the accounts that rest until 00:00 UTC.
    """
    settings = settings or load_settings()
    session = session or http_session(settings)
    configure_logging()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes

    models = ServedModels.from_ids(settings.flux_model, settings.models)
    shared = open_redis(settings)
    store = open_store(settings, shared)
    spending = Spending(
        open_counts(shared),
        settings.daily_neuron_budget,
        settings.daily_neuron_budget_per_key,
        now,
    )
    accounts = AccountPool(settings.accounts, shared, now)
    optimizer = (
        PromptOptimizer(settings, session, accounts) if settings.prompt_optimization else None
    )
    workers_ai = WorkersAIClient(settings, session, accounts)
    reuse = open_reuse(settings, store, shared)
    planner = Planner(settings, models, store, spending, optimizer)
    slots = Slots.from_settings(settings)
    pipeline = Pipeline(settings, workers_ai, store, spending, slots, optimizer, reuse)
    limits = RateLimits(settings, shared) if settings.rate_limit else None
    proxies = Proxies.parse(settings.forwarded_allow_ips)
    unsent = ByteBudget(settings.max_unsent_bytes)
    bodies = ByteBudget(settings.max_body_memory)
    fetcher = (
        ImageFetcher(settings.max_image_bytes, settings.fetch_private_networks)
        if settings.fetch_image_urls
        else None
    )
    app.extensions["flux"] = State(
        settings=settings,
        models=models,
        store=store,
        planner=planner,
        pipeline=pipeline,
        limits=limits,
        proxies=proxies,
        unsent=unsent,
        bodies=bodies,
        fetcher=fetcher,
        spending=spending,
        accounts=accounts,
    )
    app.wsgi_app = ImageServer(app.wsgi_app, store, IMAGE_HEADERS)  # type: ignore[method-assign]

    init_request_log(app)
    # A preflight needs no key and no route of its own: answer it before routing.
    app.before_request(_answer_preflight)
    app.after_request(_harden)
    CORS(
        app,
        origins="*",
        send_wildcard=True,
        allow_headers="*",  # echoes Access-Control-Request-Headers, Authorization included
        expose_headers=EXPOSED_HEADERS,
        methods=["GET", "POST", "OPTIONS"],
        max_age=PREFLIGHT_MAX_AGE,
        supports_credentials=False,
    )
    app.register_blueprint(service_views.bp)
    app.register_blueprint(openai_views.bp)
    app.register_blueprint(mcp_views.bp)
    a1111_views.init_app(app, shared)
    if limits is not None:
        app.before_request(_refuse_early)
        app.after_request(_count_refusal)
    register_error_handlers(app)
    if settings.demo_mode:
        log.warning("DEMO MODE: images come from the local Workers AI stand-in, not Cloudflare")
    if not settings.api_keys:
        log.warning("API_KEY is not set: every generation request will be refused")
    return app


def open_redis(settings: Settings) -> redis.Redis | None:
    """The app's one client of the Redis every instance shares, if the service has one: the
    Redis store's, else REDIS_URL's."""
    url = shared_redis(settings)
    if not url:
        return None
    # Imported only when used: redis-py adds 7 MB to every process that loads it.
    from ..stores.redis_client import redis_client  # noqa: PLC0415

    return redis_client(url)


def open_store(settings: Settings, shared: redis.Redis | None) -> ImageStore:
    """The store IMAGE_STORE names (a Redis store on the app's client, `shared`)."""
    kind = store_scheme(settings.image_store)
    if kind == "memory":
        return MemoryStore(
            settings.image_expiration,
            settings.image_store_max_bytes,
            settings.image_store_key_bytes,
        )
    if kind == "file":
        return FileStore.from_url(
            settings.image_store, settings.image_expiration, settings.image_store_max_bytes
        )
    if kind == "s3":
        # Imported only when used: boto3 and its S3 client add 24 MB and half a second.
        from ..stores.s3_store import S3Store  # noqa: PLC0415

        return S3Store.from_settings(settings)
    # Imported only when used, as the client is.
    from ..stores.redis_store import RedisStore  # noqa: PLC0415

    assert shared is not None  # a Redis store is the shared Redis
    return RedisStore(
        shared,
        settings.image_expiration,
        settings.image_store_max_bytes,
        settings.image_store_key_bytes,
    )


def open_reuse(settings: Settings, store: ImageStore, shared: redis.Redis | None) -> Reuse | None:
    """What hands repeatable requests their stored images, unless REUSE_IMAGES is off.

    Its index is in the Redis the service has, so every instance shares it; else beside the
    disk store, for every worker of the machine; else in this process.
    """
    if not settings.reuse_images:
        return None
    ttl = settings.image_expiration
    wait = settings.generation_wait + settings.upstream_timeout + REUSE_MARGIN
    index: Index
    if shared is not None:
        # Imported only when used, as the client is.
        from ..stores.redis_index import RedisIndex  # noqa: PLC0415

        index = RedisIndex(shared, ttl, wait)
    elif isinstance(store, FileStore):
        index = FileIndex.beside(store.root, ttl)
    else:
        index = MemoryIndex(ttl)
    return Reuse(index, store, ttl, wait)


def open_counts(shared: redis.Redis | None) -> Counts:
    """Where the day's spending is counted: where RATE_LIMIT counts, Redis or this process."""
    if shared is None:
        return MemoryCounts()
    # Imported only when used, as the client is.
    from ..stores.redis_spending import RedisCounts  # noqa: PLC0415

    return RedisCounts(shared)


def _answer_preflight() -> Response | None:
    if request.method == "OPTIONS":
        return Response(status=204)
    return None


def _refuse_early() -> None:
    """A client refused too often waits before any route that needs a key reads its
    request at all."""
    limits = current_state().limits
    view = current_app.view_functions.get(request.endpoint or "")
    if limits is not None and requires_key(view):
        limits.refuse_early(current_client())


def _count_refusal(response: Response) -> Response:
    count_refusal(response.status_code)
    return response


def _harden(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response
