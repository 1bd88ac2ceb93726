"""Structured logs: one JSON object a line on standard error.

Every request gets one line: method, route, status, duration, and for generations the model
and the time spent waiting on Workers AI. The route is the URL pattern (`/image/<key>`), so
image keys stay out of the logs; API keys and tokens never enter them at all, and errors
are logged by type and place, without their text or a traceback that could quote a secret.

Request lines are written straight to standard error, one `write` each: at thousands of
image fetches a second, the logging module's machinery would cost more than the fetch.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections.abc import Callable, Iterator

from flask import Flask, Response, g, request


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = describe(record.exc_info[1])
        return json.dumps(entry, ensure_ascii=False)


def describe(error: BaseException) -> str:
    """An error's type and where it was raised (in our code, if it passed through it),
    without its message."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [frame for frame in frames if "/flux_service/" in frame.filename] or frames
    if not ours:
        return type(error).__name__
    frame = ours[-1]
    place = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
    return f"{type(error).__name__} at {frame.name} ({place})"


def configure_logging() -> None:
    """Send the service's logs to standard error as JSON lines (once per process)."""
    root = logging.getLogger("flux_service")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False


def request_line(method: str, route: str, status: int, started: float, **fields: object) -> None:
    """Write the log line of one request that began at `started` (time.monotonic())."""
    entry = {
        "time": _timestamp(time.time()),
        "level": "info",
        "logger": "flux_service.requests",
        "message": "request",
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
        **fields,
    }
    # One write per line, so lines of requests running side by side never mix.
    sys.stderr.write(json.dumps(entry, ensure_ascii=False) + "\n")
    sys.stderr.flush()


def init_request_log(app: Flask) -> None:
    """Log one line per request; streamed answers log theirs when the stream ends."""

    @app.before_request
    def start_clock() -> None:
        g.started = time.monotonic()
        g.log_fields = {}

    @app.after_request
    def log_answer(response: Response) -> Response:
        if response.mimetype != "text/event-stream":
            started = g.get("started", time.monotonic())
            request_line(*_route(), response.status_code, started, **g.get("log_fields", {}))
        return response


def logged_stream(events: Iterator[str], outcome: Callable[[], str | None]) -> Iterator[str]:
    """`events`, logging the request's line once the stream has ended, however it ended.

    `outcome()` says how the stream ended, "completed" or "failed: …"; a stream that ends
    without either was left by its client. Call it within the request: the stream itself
    runs after the request context has gone.
    """
    (method, route), started, fields = _route(), g.started, g.log_fields

    def stream() -> Iterator[str]:
        try:
            yield from events
        finally:
            how = outcome() or "client went away"
            request_line(method, route, 200, started, stream=True, outcome=how, **fields)

    return stream()


def _route() -> tuple[str, str]:
    return request.method, request.url_rule.rule if request.url_rule else "(no route)"


def _timestamp(seconds: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{whole}.{int(seconds % 1 * 1000):03d}Z"
