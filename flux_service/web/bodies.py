"""Reading request bodies within MAX_BODY_BYTES, however they were sent."""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import orjson
from flask import current_app, request
from werkzeug.datastructures import MultiDict
from werkzeug.formparser import parse_form_data

from ..errors import BodyTooLargeError, InvalidRequestError, RequestTimeoutError, UnavailableError
from ..offload import DeadlineExceeded, deadline, off_the_event_loop
from ..wire.json_body import decode_json, explain_json
from .byte_budget import hold_for_request
from .compression import BodyDecoder, body_coding
from .state import current_state

# A body larger than this is read and parsed in steps that wait for a turn (see `_take_turn`).
OFFLOAD_BYTES = 64 * 1024
CHUNK_BYTES = 64 * 1024
# The slowest upload a body may come at, beyond CLIENT_TIMEOUT: a mobile link does far better.
MIN_UPLOAD_RATE = 100 * 1024
BODY_RETRY_AFTER = 5
HOLD_STEP = 1024 * 1024  # a chunked body takes its memory in steps this large
_turn = threading.Lock()  # gevent's lock in the worker, where `threading` is patched


def read_json() -> Any:
    """The request body's JSON value; 400 or 413 when it is unusable or too large."""
    data = read_body()
    if len(data) <= OFFLOAD_BYTES:
        return decode_json(data)
    _take_turn()
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    # The standard library takes several times as long on what orjson refused.
    return off_the_event_loop(explain_json, data, holds_gil=True)


def _take_turn() -> None:
    """Wait for this request's turn to take one step of reading or parsing a large body.

    Such a step takes up to a millisecond. A hundred bodies arriving together would each
    take one in every round of the event loop, and a health check would wait behind all
    hundred. Holding the turn across one yield keeps the others off the ready queue
    meanwhile, so a round runs one such step. The turn is given back before the step
    itself, so a client that uploads slowly holds nothing while its bytes are on the way.
    """
    with _turn:
        time.sleep(0)


def read_form() -> tuple[MultiDict[str, str], MultiDict[str, bytes]]:
    """A multipart body's text fields and files (as bytes, whatever their file names)."""
    content_type = request.content_type or ""
    if not content_type.startswith("multipart/form-data"):
        raise InvalidRequestError(
            "An edit is sent as multipart/form-data, with the image as a file part."
        )
    data = read_body()
    if len(data) > OFFLOAD_BYTES:
        return off_the_event_loop(_parse_form, data, content_type, holds_gil=True)
    return _parse_form(data, content_type)


def _parse_form(
    data: bytes, content_type: str
) -> tuple[MultiDict[str, str], MultiDict[str, bytes]]:
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(data)),
        "wsgi.input": io.BytesIO(data),
    }
    _, form, files = parse_form_data(environ, max_content_length=len(data) + 1)
    uploads: MultiDict[str, bytes] = MultiDict()
    for name, upload in files.items(multi=True):
        uploads.add(name, upload.read())
        upload.close()
    return form, uploads


def _hold_body(size: int) -> int:
    """Take `size` bytes of MAX_BODY_MEMORY for this body until the request is over."""
    state = current_state()
    refusal = UnavailableError(
        "This server holds as many request bodies in memory as it may; try again in a few seconds.",
        retry_after=BODY_RETRY_AFTER,
    )
    hold_for_request(state.bodies, size, state.settings.generation_wait, refusal)
    return size


def _too_large(limit: int, *, decoded: bool = False) -> BodyTooLargeError:
    body = "The request body, decoded," if decoded else "The request body"
    return BodyTooLargeError(
        f"{body} is larger than this server takes (MAX_BODY_BYTES, {limit / 2**20:g} MiB)."
    )


def read_body() -> bytes:
    """The request body, decoded; 413 over MAX_BODY_BYTES, 408 when it comes too slowly.

    Flask checks Content-Length up front, but a chunked body has none: it is read up to the
    limit, and one more byte behind it means the body was too large. The whole body must
    arrive within CLIENT_TIMEOUT plus a second per MIN_UPLOAD_RATE bytes. A large body takes
    its size from MAX_BODY_MEMORY before it is read; a chunked one, step by step as it comes.
    A gzip or deflate body is then decoded under the same limits (see `_decoded`); any other
    Content-Encoding is a 415 before anything is read.
    """
    coding = body_coding(request.headers.get("Content-Encoding"))
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    length = request.content_length
    if length is not None and length > limit:
        raise _too_large(limit)
    held = 0
    if length is not None and length > OFFLOAD_BYTES:
        held = _hold_body(length)
    allowed = current_state().settings.client_timeout + (length or limit) / MIN_UPLOAD_RATE
    stream = request.environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    try:
        with deadline(allowed):
            while length is None or size < length:
                if size or held:
                    _take_turn()  # a large body: each chunk waits for its turn
                chunk = stream.read(min(CHUNK_BYTES, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                if length is None and size > held + OFFLOAD_BYTES:
                    held += _hold_body(HOLD_STEP)
    except DeadlineExceeded:
        raise RequestTimeoutError(
            f"The request body did not arrive within {allowed:.0f} s; send it faster."
        ) from None
    data = b"".join(chunks)
    return data if coding is None else _decoded(data, coding, limit)


def _decoded(data: bytes, coding: str, limit: int) -> bytes:
    """`data` decoded from `coding`; 413 as soon as more than `limit` bytes come out.

    The decoded bytes take MAX_BODY_MEMORY before each step is decoded, so a body of a
    megabyte that unpacks to a gigabyte holds no more than the limit, and is refused there.
    zlib lets go of the GIL while it works, so each step runs on a real thread and the event
    loop keeps serving everyone else (a health check included) meanwhile.
    """
    decoder = BodyDecoder(coding, data)
    chunks: list[bytes] = []
    size = 0
    step = OFFLOAD_BYTES  # as much as a plain body holds without taking memory
    while not decoder.finished:
        chunk = off_the_event_loop(decoder.read, min(step, limit + 1 - size))
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, decoded=True)
        if not decoder.finished:
            _hold_body(HOLD_STEP)
            step = HOLD_STEP
    return b"".join(chunks)
