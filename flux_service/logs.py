"""Structured logs: one JSON object a line on standard error.

Every request gets one line: method, route, status, duration, and for generations the model
and the time spent waiting on Workers AI. The route is the URL pattern (`/image/<key>`), so
image keys stay out of the logs; API keys and tokens never enter them at all, and errors
are logged by type and place, without their text or a traceback that could quote a secret.

Request lines are written straight to standard error, one `write` each: at thousands of
image fetches a second, the logging module's machinery would cost more than the fetch.

This module imports nothing from Flask: gunicorn's master formats its own lines with
`JsonFormatter` too (see gunicorn.conf.py). The Flask hooks are in `request_log.py`.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import traceback

from gunicorn import glogging

QUIET_STATUSES = frozenset({401, 404})
QUIET_SECONDS = 1.0


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


class GunicornLogger(glogging.Logger):
    """gunicorn's logger, writing its lines through JsonFormatter."""

    def setup(self, cfg: object) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())


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


class _Quiet:
    """Refusals that cost nothing to make (an unknown image or route, a missing key) are
    logged at most once a QUIET_SECONDS: an anonymous client could otherwise write thousands
    of lines a second. Those not written are counted, and the count is written at the end of
    their second, so the log still says how many there were."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0.0
        self._unwritten = 0

    def admit(self, now: float) -> bool:
        """Whether this refusal's line may be written; if not, it is counted."""
        # gunicorn's master imports this module before gevent patches threading, so the lock
        # is a real one: nothing under it may yield to another greenlet (starting a Timer
        # does), or the next refusal would block the whole worker on it.
        with self._lock:
            if now >= self._next:
                self._next = now + QUIET_SECONDS
                return True
            self._unwritten += 1
            first = self._unwritten == 1
        if first:
            timer = threading.Timer(self._next - now, self._write_count)
            timer.daemon = True
            timer.start()
        return False

    def _write_count(self) -> None:
        with self._lock:
            unwritten, self._unwritten = self._unwritten, 0
        if unwritten:
            _write({"message": "refusals not logged one by one", "count": unwritten})


_quiet = _Quiet()


def request_line(method: str, route: str, status: int, started: float, **fields: object) -> None:
    """Write the log line of one request that began at `started` (time.monotonic())."""
    if status in QUIET_STATUSES and not _quiet.admit(time.monotonic()):
        return
    _write(
        {
            "message": "request",
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
            **fields,
        }
    )


def _write(fields: dict[str, object]) -> None:
    entry = {
        "time": _timestamp(time.time()),
        "level": "info",
        "logger": "flux_service.requests",
        **fields,
    }
    # One write per line, so lines of requests running side by side never mix.
    sys.stderr.write(json.dumps(entry, ensure_ascii=False) + "\n")
    sys.stderr.flush()


def _timestamp(seconds: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{whole}.{int(seconds % 1 * 1000):03d}Z"
