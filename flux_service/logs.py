"""Structured logs: one JSON object a line on standard error.

Every request gets one line: method, route, status, duration, and for generations the model
and the time spent waiting on Workers AI. The route is the URL pattern (`/image/<key>`), so
picture keys stay out of the logs; API keys and tokens never enter them at all, and errors
are logged by type and place, without their text or a traceback that could quote a secret.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Iterator

from flask import Flask, Response, g, request

log = logging.getLogger("flux_service.requests")


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON; `fields` given with `extra` join the object."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = describe(record.exc_info[1])
        return json.dumps(entry, ensure_ascii=False, default=str)


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


def init_request_log(app: Flask) -> None:
    """Log one line per request; streamed answers log theirs when the stream ends."""

    @app.before_request
    def start_clock() -> None:
        g.started = time.monotonic()
        g.log_fields = {}

    @app.after_request
    def log_answer(response: Response) -> Response:
        if not response.is_streamed or response.mimetype != "text/event-stream":
            log_request(response.status_code)
        return response


def log_request(status: int) -> None:
    """The line for the current request (call within its context)."""
    _line(_route(), g.get("started", time.monotonic()), status, g.get("log_fields", {}))


def logged_stream(events: Iterator[str], outcome: dict[str, str]) -> Iterator[str]:
    """`events`, logging the request's line once the stream has ended, however it ended.

    The stream sets `outcome["value"]` to "completed" or "failed: …"; a stream that ends
    without either was left by its client. Call it within the request: the stream itself
    runs after the request context has gone.
    """
    route, started, fields = _route(), g.started, g.log_fields

    def stream() -> Iterator[str]:
        try:
            yield from events
        finally:
            how = outcome.get("value", "client went away")
            _line(route, started, 200, fields, stream=True, outcome=how)

    return stream()


def _route() -> tuple[str, str]:
    return request.method, request.url_rule.rule if request.url_rule else "(no route)"


def _line(
    route: tuple[str, str], started: float, status: int, fields: dict, **more: object
) -> None:
    method, rule = route
    entry = {
        "method": method,
        "route": rule,
        "status": status,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
        **more,
        **fields,
    }
    log.info("request", extra={"fields": entry})
