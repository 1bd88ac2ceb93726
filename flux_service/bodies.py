"""Reading request bodies within MAX_BODY_BYTES, however they were sent."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from .errors import RequestTimeoutError
from .offload import DeadlineExceeded, deadline, off_the_event_loop
from .openai_format import decode_json, explain_json
from .state import current_state

# Bodies larger than this that orjson refused are read again on a real thread: several
# milliseconds each on the event loop, times a hundred requests, would stall everyone else.
OFFLOAD_BYTES = 64 * 1024
CHUNK_BYTES = 64 * 1024
# The slowest upload a body may come at, beyond CLIENT_TIMEOUT: a mobile link does far better.
MIN_UPLOAD_RATE = 100 * 1024
PARSERS = 2
_parsing = threading.BoundedSemaphore(PARSERS)


def read_json() -> Any:
    """The request body's JSON value; 400 or 413 when it is unusable or too large."""
    data = read_body()
    if len(data) <= OFFLOAD_BYTES:
        return decode_json(data)
    # A large body takes a millisecond or more to read. A hundred of them arriving together
    # would each run that millisecond before anyone else's turn came; this way at most
    # PARSERS are ready to run at once, and a health check waits behind those few only.
    with _parsing:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
        # The standard library takes several times as long on what orjson refused.
        return off_the_event_loop(explain_json, data, holds_gil=True)


def read_body() -> bytes:
    """The request body; 413 when it is over MAX_BODY_BYTES, 408 when it comes too slowly.

    Flask checks Content-Length up front, but a chunked body has none: it is read up to the
    limit, and one more byte behind it means the body was too large. The whole body must
    arrive within CLIENT_TIMEOUT plus a second per MIN_UPLOAD_RATE bytes.
    """
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    length = request.content_length
    if length is not None and length > limit:
        raise RequestEntityTooLarge()
    allowed = current_state().settings.client_timeout + (length or limit) / MIN_UPLOAD_RATE
    stream = request.environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    try:
        with deadline(allowed):
            while chunk := stream.read(min(CHUNK_BYTES, limit + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise RequestEntityTooLarge()
                # A body already waiting in full would be read in one go, the event loop
                # serving nobody else meanwhile: let the others have a turn between chunks.
                time.sleep(0)
    except DeadlineExceeded:
        raise RequestTimeoutError(
            f"The request body did not arrive within {allowed:.0f} s; send it faster."
        ) from None
    return b"".join(chunks)
