"""GET /image/<key>: stored images, served straight from the store, in front of Flask.

Fetching images is the busiest thing the service does: every chat app loads every image,
some of them more than once. Flask's request machinery costs more than the lookup itself,
so this small WSGI layer answers these requests and hands everything else to the app.

It is one of the service's fast paths, with copies of what the app does elsewhere: the
CORS and hardening headers (`factory.IMAGE_HEADERS`), the error body and the request log
line. A change to CORS or logging must be made here too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus

import orjson

from .errors import FluxError, NotFoundError, StatusError, StoreUnavailableError
from .images import EXTENSIONS
from .logs import request_line
from .store import ImageStore

PREFIX = "/image/"
ROUTE = "/image/<key>"
IMAGE_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def image_url(base_url: str, key: str) -> str:
    """Where the image under `key` is fetched, below `base_url` (this service's origin)."""
    return f"{base_url}{PREFIX}{key}"


class ImageServer:
    """Answers GET and HEAD on /image/<key>; passes every other request on to `app`.

    `headers` go on every answer: the CORS and hardening headers the app adds elsewhere.
    """

    def __init__(self, app: WSGIApp, store: ImageStore, headers: list[tuple[str, str]]) -> None:
        self.app = app
        self.store = store
        self.headers = headers

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX) or method == "OPTIONS":
            return self.app(environ, start_response)  # the app answers preflights
        started = time.monotonic()
        if method in ("GET", "HEAD"):
            status, headers, body = self.answer(path[len(PREFIX) :])
        else:
            status, headers, body = _error(StatusError(405))
            headers.append(("Allow", "GET, HEAD, OPTIONS"))
        start_response(status, headers + self.headers)
        request_line(method, ROUTE, int(status[:3]), started)
        return [] if method == "HEAD" else [body]

    def answer(self, key: str) -> tuple[str, list[tuple[str, str]], bytes]:
        """Status line, headers and body for the image under `key`."""
        try:
            stored = self.store.get(key) if IMAGE_KEY.fullmatch(key) else None
        except StoreUnavailableError as error:
            return _error(error)
        if stored is None:
            return _error(
                NotFoundError(
                    "This image does not exist or has expired; generate it again.",
                    code="image_not_found",
                )
            )
        filename = f"flux-{key[:8]}.{EXTENSIONS[stored.mime]}"
        headers = [
            ("Content-Type", stored.mime),
            ("Content-Length", str(len(stored.data))),
            # Never cached for longer than the image lives here.
            ("Cache-Control", f"public, max-age={int(stored.seconds_left)}"),
            ("Content-Disposition", f'inline; filename="{filename}"'),
        ]
        return "200 OK", headers, stored.data


def _error(error: FluxError) -> tuple[str, list[tuple[str, str]], bytes]:
    body = orjson.dumps(error.to_dict())
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    reason = HTTPStatus(error.status).phrase
    return f"{error.status} {reason}", headers + list(error.headers().items()), body
