"""Prometheus metrics: every one the service keeps, and the small functions that count them.

Under gunicorn each worker writes its counts to files in PROMETHEUS_MULTIPROC_DIR (a fresh
directory gunicorn.conf.py makes for each start), and `exposition` sums the files of every
worker. In a single process (the in-process tests) prometheus_client's default registry
holds them instead.

Every label takes few values: route patterns (`/image/<key>`, never a path), model ids,
error codes, task kinds, store names. No key, token, prompt or path ever becomes one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from .errors import FluxError

# The classic text format, which every Prometheus and agent reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# Workers AI answers in a few tenths of a second (a small model, few steps) to a minute (a
# large edit at many steps).
UPSTREAM_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)

REQUESTS = Counter(
    "flux_requests", "Requests answered, by route pattern and status.", ["route", "status"]
)
IMAGES = Counter(
    "flux_images",
    "Images set out to be drawn, by kind (generation or edit), model and outcome "
    "(ok, or the error's code).",
    ["kind", "model", "outcome"],
)
DRAWING = Gauge(
    "flux_images_drawing", "Images Workers AI is drawing right now.", multiprocess_mode="livesum"
)
UPSTREAM_SECONDS = Histogram(
    "flux_upstream_seconds",
    "Workers AI calls: seconds until the whole answer was read, by model.",
    ["model"],
    buckets=UPSTREAM_BUCKETS,
)
UPSTREAM_FIRST_BYTE = Histogram(
    "flux_upstream_first_byte_seconds",
    "Workers AI calls: seconds until the answer's status and headers arrived, by model.",
    ["model"],
    buckets=UPSTREAM_BUCKETS,
)
# The four store metrics keep the word "pictures" in their names: dashboards and alerts use
# them, and a new name would break those; their help says "images", as the service does.
STORED = Counter("flux_pictures_stored", "Images put in the image store.", ["store"])
STORED_BYTES = Counter(
    "flux_pictures_stored_bytes", "Bytes of the images put in the image store.", ["store"]
)
EVICTED = Counter(
    "flux_pictures_evicted",
    "Images the image store let go, by reason: expired, full (IMAGE_STORE_MAX_BYTES) or "
    "share (a key's IMAGE_STORE_KEY_BYTES).",
    ["store", "reason"],
)
EVICTED_BYTES = Counter(
    "flux_pictures_evicted_bytes",
    "Bytes of the images the image store let go, by reason.",
    ["store", "reason"],
)
CLIENT_TASKS = Counter(
    "flux_client_tasks",
    "Chat apps' housekeeping requests (titles, tags, checks) answered without an image.",
    ["kind"],
)
REFUSED = Counter(
    "flux_refused",
    "Requests refused before anything was drawn, by reason: rate (RATE_LIMIT), capacity "
    "(generation slots), memory (MAX_UNSENT_BYTES, MAX_BODY_MEMORY) or budget "
    "(DAILY_NEURON_BUDGET and its _PER_KEY share).",
    ["reason"],
)
# A key is shown, here and in the log, as this many characters of its digest: enough to
# tell the configured keys apart, too few to be worth anything to anyone else.
KEY_DIGEST_CHARS = 12
# The configured API keys are few, and each appears as that short digest.
NEURONS = Counter(
    "flux_neurons",
    "Workers AI neurons spent, as estimated from the catalog's rates (images) or counted from "
    "the tokens (the optimizer's rewrites), by model and API key (a short digest of it).",
    ["model", "key"],
)
DOLLARS = Counter(
    "flux_dollars",
    "What those neurons cost in US dollars, at Workers AI's rate, by model and API key.",
    ["model", "key"],
)
# Set at each scrape by the worker that answers it, from what the pool knows then.
ACCOUNT_READY = Gauge(
    "flux_account_ready",
    "Whether each Cloudflare account (by its place in CF_ACCOUNTS) may draw: 1, or 0 while "
    "it rests.",
    ["index"],
    multiprocess_mode="mostrecent",
)


def count_request(route: str, status: int) -> None:
    """One request answered on `route` (its pattern) with `status`."""
    REQUESTS.labels(route, str(status)).inc()


@contextlib.contextmanager
def drawing_image(kind: str, model: str) -> Iterator[None]:
    """Count the image drawn inside this block by how it ended: ok, or its error's code."""
    try:
        yield
    except FluxError as error:
        IMAGES.labels(kind, model, error.code or error.type).inc()
        raise
    except Exception:
        IMAGES.labels(kind, model, "unexpected").inc()
        raise
    IMAGES.labels(kind, model, "ok").inc()


def image_reused(kind: str, model: str) -> None:
    """An image was handed on from an identical request instead of drawn."""
    IMAGES.labels(kind, model, "reused").inc()


def spent(model: str, owner: str, neurons: float, dollars: float) -> None:
    """An image drawn for `owner` (a digest of its key) cost about `neurons` and `dollars`."""
    key = short_key(owner)
    NEURONS.labels(model, key).inc(neurons)
    DOLLARS.labels(model, key).inc(dollars)


def short_key(owner: str) -> str:
    """How an API key is shown in the log and the metrics: a few characters of its digest."""
    return owner[:KEY_DIGEST_CHARS]


def accounts(ready: list[bool]) -> None:
    """Which Cloudflare accounts may draw now, in the pool's order."""
    for index, state in enumerate(ready):
        ACCOUNT_READY.labels(str(index)).set(1 if state else 0)


def upstream_busy() -> contextlib.AbstractContextManager:
    """A block in which Workers AI draws one image."""
    return DRAWING.track_inprogress()


def upstream_first_byte(model: str, seconds: float) -> None:
    """A Workers AI call's status and headers came after `seconds`."""
    UPSTREAM_FIRST_BYTE.labels(model).observe(seconds)


def upstream_answered(model: str, seconds: float) -> None:
    """A Workers AI call's whole answer was read after `seconds`."""
    UPSTREAM_SECONDS.labels(model).observe(seconds)


def image_stored(store: str, size: int) -> None:
    """An image of `size` bytes was put in `store`."""
    STORED.labels(store).inc()
    STORED_BYTES.labels(store).inc(size)


def images_evicted(store: str, reason: str, size: int, count: int = 1) -> None:
    """`count` images of `size` bytes in all left `store` for `reason`."""
    if count:
        EVICTED.labels(store, reason).inc(count)
        EVICTED_BYTES.labels(store, reason).inc(size)


def client_task(kind: str) -> None:
    """A client task of `kind` was answered without an image."""
    CLIENT_TASKS.labels(kind).inc()


def refused(reason: str) -> None:
    """A request was refused for `reason` before anything was drawn."""
    REFUSED.labels(reason).inc()


def exposition(directory: str) -> bytes:
    """Every metric in the text format (CONTENT_TYPE): summed over the files of every
    worker in `directory` (PROMETHEUS_MULTIPROC_DIR), or without one this process's own."""
    registry = REGISTRY
    if directory:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
    return generate_latest(registry)
