"""Client authentication: a key (bearer, HTTP Basic's password, or X-Api-Key) checked
against API_KEY, or a bearer token for /metrics against METRICS_TOKEN, in constant time;
without METRICS_TOKEN, /metrics is this machine's alone.
And who a request is, for its limits and shares: a keyed digest of its key or address."""

from __future__ import annotations

import binascii
import hashlib
import hmac
import ipaddress
from collections.abc import Callable, Mapping
from functools import wraps
from typing import TypeVar

import pybase64
from flask import g, request
from werkzeug.datastructures import Headers

from ..errors import AuthenticationError, ForbiddenError
from .forwarded import client_address
from .state import current_state

F = TypeVar("F", bound=Callable)


# What a client without a password sends as HTTP Basic credentials: SillyTavern sends
# `Basic ` with nothing, or the base64 of "undefined".
_NO_PASSWORD = "undefined"


def presented_key(headers: Headers | Mapping[str, str]) -> str | None:
    """The key a client sent: `Authorization: Bearer <key>`, HTTP Basic with the key as the
    password (AUTOMATIC1111's clients), or `X-Api-Key` (Cherry Studio)."""
    scheme, credentials = _authorization(headers)
    key = None
    if scheme == "bearer":
        key = credentials or None
    elif scheme == "basic":
        key = _basic(credentials)
    return key or headers.get("X-Api-Key", "").strip() or None


def request_key() -> str | None:
    """The key this request sent (`presented_key`), read once: the check, the client's
    digest and an error's challenge all ask for it."""
    if "presented_key" not in g:
        g.presented_key = presented_key(request.headers)
    key: str | None = g.presented_key
    return key


def _authorization(headers: Headers | Mapping[str, str]) -> tuple[str, str]:
    """The Authorization header's scheme, in lower case, and its credentials."""
    scheme, _, credentials = headers.get("Authorization", "").partition(" ")
    return scheme.lower(), credentials.strip()


def _basic(encoded: str) -> str | None:
    """The key in HTTP Basic credentials: the password, with any user name; the user name
    when there is no password (`key:` or `key`, as a setting of "user:pass" may be filled).
    Empty or unreadable credentials, or "undefined", are no key."""
    try:
        decoded = pybase64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, ValueError):  # not base64, or not UTF-8
        return None
    user, _, password = decoded.partition(":")
    key = (password or user).strip()
    return key if key and key != _NO_PASSWORD else None


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
            "Missing API key: send it as `Authorization: Bearer <key>` (or as the password of "
            "HTTP Basic auth).",
            code="missing_api_key",
        )
    if not is_api_key(key, allowed):
        raise AuthenticationError("Incorrect API key provided.")


# Headers a proxy adds: a request that bears one came from elsewhere, whatever its peer.
_FORWARDING = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def check_metrics_access(headers: Headers | Mapping[str, str], peer: str, token: str) -> None:
    """Raise unless the metrics may be shown: with METRICS_TOKEN (`token`), to a request
    that bears it; without, to one from this machine (a loopback `peer`) that no proxy
    forwarded, so a public deployment shows them to nobody outside by default."""
    if token:
        _check_token(headers, token)
        return
    try:
        local = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        local = False
    if not local or any(name in headers for name in _FORWARDING):
        raise ForbiddenError(
            "The metrics are shown to this machine alone: scrape them on 127.0.0.1, or have "
            "the operator set METRICS_TOKEN and send it as `Authorization: Bearer <token>`.",
            code="metrics_not_public",
        )


def _check_token(headers: Headers | Mapping[str, str], token: str) -> None:
    """Raise AuthenticationError unless `headers` bear `token` (METRICS_TOKEN)."""
    scheme, credentials = _authorization(headers)
    presented = credentials if scheme == "bearer" else ""
    if not hmac.compare_digest(presented.encode(), token.encode()):
        raise AuthenticationError(
            "The metrics need the METRICS_TOKEN: send it as `Authorization: Bearer <token>`.",
            code="invalid_metrics_token",
        )


def current_client() -> str:
    """Who this request is, for rate limits and shares: a digest of its key when it is one
    of API_KEY, else of its address, so a client sending a new made-up key each time is
    still one client. Worked out once per request."""
    if "client" not in g:
        state = current_state()
        key = request_key()
        known = key if is_api_key(key, state.settings.api_keys) else None
        address = client_address(request.environ, state.proxies)
        g.client = client_id(known, address, state.settings.key_digest_secret)
    return str(g.client)


def client_id(key: str | None, address: str, secret: bytes) -> str:
    """Who is counted: a digest of the API key, else of the client's address, keyed with
    `secret` (Settings.key_digest_secret) so that a guessed key cannot be checked against it."""
    return hmac.new(secret, (key or address).encode(), hashlib.sha256).hexdigest()[:32]


def require_api_key(view: F) -> F:
    """Decorate a view so it runs only for a client with a valid key. The view is marked
    (`requires_key`), so RATE_LIMIT's refusals find every such route by itself."""

    @wraps(view)
    def guarded(*args: object, **kwargs: object) -> object:
        check_api_key(request_key(), current_state().settings.api_keys)
        return view(*args, **kwargs)

    guarded.requires_key = True  # type: ignore[attr-defined]
    return guarded  # type: ignore[return-value]


def requires_key(view: Callable | None) -> bool:
    """Whether `view` runs only for a client with a valid key (see `require_api_key`)."""
    return getattr(view, "requires_key", False)
