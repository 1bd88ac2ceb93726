"""GET /image/<key>: stored images, served straight from the store, in front of Flask.

Fetching images is the busiest thing the service does: every chat app loads every image,
some of them more than once. Flask's request machinery costs more than the lookup itself,
so this small WSGI layer answers these requests and hands everything else to the app.

It is one of the service's fast paths, with copies of what the app does elsewhere: the
CORS and hardening headers (`factory.IMAGE_HEADERS`), the error body, the request log
line and its count. A change to CORS, logging or metrics must be made here too.

A stored image never changes under its key, so the key is its strong ETag: a client that
has it gets a 304 for `If-None-Match`, and one that was cut off mid-image asks for the rest
with `Range`. The header logic is in the pure functions at the end, tested directly.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus

import orjson
from werkzeug.wsgi import FileWrapper

from .. import metrics
from ..errors import (
    FluxError,
    NotFoundError,
    RangeNotSatisfiableError,
    StatusError,
    StoreUnavailableError,
)
from ..logs import request_line
from ..stores.base import EXTENSIONS, IMAGE_KEY, IMAGE_PATH, ImageStore, StoredImage

ROUTE = "/image/<key>"

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
A_YEAR = 365 * 86400  # the longest max-age caches are asked to honour (RFC 9111 §5.2.2.1)
FILE_BLOCK = 256 * 1024


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
        if not path.startswith(IMAGE_PATH) or method == "OPTIONS":
            return self.app(environ, start_response)  # the app answers preflights
        started = time.monotonic()
        if method in ("GET", "HEAD"):
            status, headers, body = self.answer(path[len(IMAGE_PATH) :], environ)
        else:
            status, headers, body = _error(StatusError(405))
            headers.append(("Allow", "GET, HEAD, OPTIONS"))
        start_response(status, headers + self.headers)
        code = int(status[:3])
        request_line(method, ROUTE, code, started)
        metrics.count_request(ROUTE, code)
        if isinstance(body, StoredImage):
            assert body.file is not None  # only a file is handed over whole
            if method == "GET":
                # The server sends it with sendfile, from where the file stands.
                return environ.get("wsgi.file_wrapper", FileWrapper)(body.file, FILE_BLOCK)
            body.file.close()
            return []
        return [] if method == "HEAD" else [body]

    def answer(
        self, key: str, environ: dict
    ) -> tuple[str, list[tuple[str, str]], bytes | StoredImage]:
        """Status line, headers and body for the image under `key`, as `environ` asks: its
        bytes, or (for a whole image on disk) the stored image, whose open file is sent."""
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
        etag = stored.etag or f'"{key}"'  # an image never changes under its key
        headers = [
            # Never cached for longer than the image lives here.
            ("Cache-Control", cache_control(stored.seconds_left)),
            ("ETag", etag),
        ]
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if if_none_match is not None and none_match(if_none_match, etag):
            _close(stored)
            return "304 Not Modified", headers, b""
        length = stored.length
        filename = f"flux-{key[:8]}.{EXTENSIONS.get(stored.mime, 'bin')}"
        headers += [
            ("Content-Type", stored.mime),
            ("Content-Disposition", f'inline; filename="{filename}"'),
            ("Accept-Ranges", "bytes"),
        ]
        try:
            span = _span(environ, etag, length)
        except RangeNotSatisfiableError as error:
            _close(stored)
            return _error(error)
        if span is None:
            headers.append(("Content-Length", str(length)))
            return "200 OK", headers, stored if stored.file is not None else stored.data
        start, stop = span
        headers += [
            ("Content-Length", str(stop - start)),
            ("Content-Range", f"bytes {start}-{stop - 1}/{length}"),
        ]
        # Ranges are rare (a client cut off mid-image): read the part, even from a file.
        return "206 Partial Content", headers, stored.read()[start:stop]


def cache_control(seconds_left: float | None) -> str:
    """Cached no longer than the image lives here; for a year, when it is kept for good."""
    if seconds_left is None:
        return f"public, max-age={A_YEAR}, immutable"
    return f"public, max-age={int(seconds_left)}"


def _close(stored: StoredImage) -> None:
    if stored.file is not None:
        stored.file.close()


def _span(environ: dict, etag: str, length: int) -> tuple[int, int] | None:
    """The byte range a request asks of the image, if it holds; None for all of it."""
    asked = environ.get("HTTP_RANGE")
    # RFC 9110 §14.2 defines ranges for GET only: a HEAD gets the whole image's headers.
    if asked is None or environ["REQUEST_METHOD"] != "GET":
        return None
    if not range_applies(environ.get("HTTP_IF_RANGE"), etag):
        return None  # If-Range names another image: send this one whole
    return byte_range(asked, length)


def _error(error: FluxError) -> tuple[str, list[tuple[str, str]], bytes]:
    body = orjson.dumps(error.to_dict())
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    reason = HTTPStatus(error.status).phrase
    return f"{error.status} {reason}", headers + list(error.headers().items()), body


# An entity-tag in If-None-Match, W/ or not: the quoted opaque tag is what is compared.
_ENTITY_TAG = re.compile(r'(?:W/)?("[^"]*")')
# One byte range: first-last, first- or -suffix. A longer number is no position in any
# image (and would be slow to read): such a Range is ignored.
_BYTE_RANGE = re.compile(r"(\d{0,18})-(\d{0,18})")


def none_match(header: str, etag: str) -> bool:
    """Whether If-None-Match `header` matches the strong `etag`: `*`, or any tag in its
    list, compared weakly as RFC 9110 §13.1.2 asks (`W/"x"` matches `"x"`)."""
    if header.strip() == "*":
        return True
    return etag in _ENTITY_TAG.findall(header)


def range_applies(if_range: str | None, etag: str) -> bool:
    """Whether a Range is honoured under `if_range`: without one, or when it is `etag`
    itself (RFC 9110 §13.1.5 compares strongly; a date never matches, as none is sent)."""
    return if_range is None or if_range.strip() == etag


def byte_range(header: str, length: int) -> tuple[int, int] | None:
    """The one byte range `header` asks of `length` bytes, as (start, stop); None for all.

    A range past the end is a 416. A Range in another unit or not well formed is ignored,
    as RFC 9110 §14.2 allows. Several ranges get the whole image too: a multipart answer
    would be larger than the image, and no image client asks for one.
    """
    unit, _, ranges = header.partition("=")
    specs = [spec.strip() for spec in ranges.split(",") if spec.strip()]
    if unit.strip().lower() != "bytes" or len(specs) != 1:
        return None
    match = _BYTE_RANGE.fullmatch(specs[0])
    if match is None:
        return None
    first, last = match.groups()
    if first:
        start = int(first)
        if last and int(last) < start:
            return None
        if start >= length:
            raise _unsatisfiable(length)
        return start, min(int(last) + 1, length) if last else length
    if not last:
        return None
    if int(last) == 0:
        raise _unsatisfiable(length)
    return max(length - int(last), 0), length


def _unsatisfiable(length: int) -> RangeNotSatisfiableError:
    return RangeNotSatisfiableError(
        f"The range asked for is past the end of this image, which is {length} bytes long.",
        length=length,
    )
