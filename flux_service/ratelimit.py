"""Per-key rate limits on generation, with Flask-Limiter.

RATE_LIMIT (e.g. "20/minute", off when empty) counts the requests that draw images for
each API key, in memory or in the Redis of IMAGE_STORE so that every worker shares the
count. A request over the limit gets 429 in the OpenAI error shape, with Retry-After.
Requests answered without an image (a chat app's title request, a bad body) do not count.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from flask import Flask, Response, g, request
from flask_limiter import Limiter, RateLimitExceeded

from config import Settings

from .auth import presented_key
from .errors import RateLimitError, error_response

if TYPE_CHECKING:
    from flask.typing import RouteCallable


def init_rate_limits(app: Flask, settings: Settings, endpoints: tuple[str, ...]) -> Limiter:
    """Limit `endpoints` of `app` to RATE_LIMIT per key, counted where the images are kept.

    Only requests that draw (`g.generating`) count. The factory calls this only when a limit
    is set: once attached, Flask-Limiter looks at every request.
    """
    storage = "memory://" if settings.image_store == "memory" else settings.image_store
    limiter = Limiter(
        key_func=_client,
        strategy="fixed-window",
        key_prefix="flux:limit",
        storage_uri=storage,
        # With Redis down, generation fails anyway with a clear 503; counting must not add a 500.
        swallow_errors=True,
    )
    limiter.init_app(app)
    limit = limiter.limit(settings.rate_limit, deduct_when=_drew)
    for endpoint in endpoints:
        # Flask-Limiter's decorator is typed for async views too; ours stay synchronous.
        app.view_functions[endpoint] = cast("RouteCallable", limit(app.view_functions[endpoint]))
    app.register_error_handler(RateLimitExceeded, _too_many(limiter))
    return limiter


def _client() -> str:
    """Who is counted: a digest of the API key, so the limiter's storage never holds a key."""
    key = presented_key(request.headers) or request.remote_addr or ""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _drew(_response: Response) -> bool:
    return bool(g.get("generating", False))


def _too_many(limiter: Limiter) -> Callable[[RateLimitExceeded], Response]:
    def answer(error: RateLimitExceeded) -> Response:
        current = limiter.current_limit
        retry_after = math.ceil(current.reset_at - time.time()) if current else 60
        return error_response(
            RateLimitError(
                f"This API key made more generation requests than RATE_LIMIT allows "
                f"({error.description}); try again in {retry_after} s.",
                retry_after=max(1, retry_after),
            )
        )

    return answer
