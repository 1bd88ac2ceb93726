"""GET /image/<key>: stored pictures, served straight from the store, in front of Flask.

Fetching pictures is the busiest thing the service does: every chat app loads every picture,
some of them more than once. Flask's request machinery costs more than the lookup itself,
so this small WSGI layer answers these requests and hands everything else to the app.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus

import orjson

from .errors import FluxError, HTTPError, NotFoundError, StoreUnavailableError
from .images import EXTENSIONS
from .logs import request_line
from .store import ImageStore

PREFIX = "/image/"
ROUTE = "/image/<key>"
IMAGE_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class PictureServer:
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
            status, headers, body = _error(HTTPError(405))
            headers.append(("Allow", "GET, HEAD, OPTIONS"))
        start_response(status, headers + self.headers)
        request_line(method, ROUTE, int(status[:3]), started)
        return [] if method == "HEAD" else [body]

    def answer(self, key: str) -> tuple[str, list[tuple[str, str]], bytes]:
        """Status line, headers and body for the picture under `key`."""
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
            # Never cached for longer than the picture lives here.
            ("Cache-Control", f"public, max-age={int(stored.seconds_left)}"),
            ("Content-Disposition", f'inline; filename="{filename}"'),
        ]
        return "200 OK", headers, stored.data


def _error(error: FluxError) -> tuple[str, list[tuple[str, str]], bytes]:
    body = orjson.dumps(error.to_dict())
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    reason = HTTPStatus(error.status).phrase
    return f"{error.status} {reason}", headers + list(error.headers().items()), body
