"""Client authentication: a bearer key checked against API_KEY, or for /metrics against
METRICS_TOKEN, in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from functools import wraps
from typing import TypeVar

from flask import request
from werkzeug.datastructures import Headers

from .errors import AuthenticationError
from .state import current_state

F = TypeVar("F", bound=Callable)


def presented_key(headers: Headers | Mapping[str, str]) -> str | None:
    """The key a client sent: `Authorization: Bearer <key>`, or `X-Api-Key` (Cherry Studio)."""
    return _bearer(headers) or headers.get("X-Api-Key", "").strip() or None


def _bearer(headers: Headers | Mapping[str, str]) -> str | None:
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def is_api_key(key: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether `key` is one of `allowed`, compared with every one of them, without stopping
    early, so timing tells nothing."""
    matched = False
    for candidate in allowed:
        matched |= key is not None and hmac.compare_digest(key.encode(), candidate.encode())
    return matched


def check_api_key(key: str | None, allowed: tuple[str, ...]) -> None:
    """Raise AuthenticationError unless `key` is one of `allowed`."""
    if not allowed:
        raise AuthenticationError(
            "This server has no API_KEY configured, so it generates for no one. "
            "Its operator must set API_KEY."
        )
    if key is None:
        raise AuthenticationError(
            "Missing API key: send it as `Authorization: Bearer <key>`.", code="missing_api_key"
        )
    if not is_api_key(key, allowed):
        raise AuthenticationError("Incorrect API key provided.")


def check_metrics_token(headers: Headers | Mapping[str, str], token: str) -> None:
    """Raise AuthenticationError unless `headers` bear `token` (METRICS_TOKEN); without
    one, anybody may read the metrics."""
    if not token:
        return
    presented = _bearer(headers) or ""
    if not hmac.compare_digest(presented.encode(), token.encode()):
        raise AuthenticationError(
            "The metrics need the METRICS_TOKEN: send it as `Authorization: Bearer <token>`.",
            code="invalid_metrics_token",
        )


def require_api_key(view: F) -> F:
    """Decorate a view so it runs only for a client with a valid key. The view is marked
    (`requires_key`), so RATE_LIMIT's refusals find every such route by itself."""

    @wraps(view)
    def guarded(*args: object, **kwargs: object) -> object:
        check_api_key(presented_key(request.headers), current_state().settings.api_keys)
        return view(*args, **kwargs)

    guarded.requires_key = True  # type: ignore[attr-defined]
    return guarded  # type: ignore[return-value]


def requires_key(view: Callable | None) -> bool:
    """Whether `view` runs only for a client with a valid key (see `require_api_key`)."""
    return getattr(view, "requires_key", False)
