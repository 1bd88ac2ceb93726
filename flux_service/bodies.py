"""Reading request bodies within MAX_BODY_BYTES, however they were sent."""

from __future__ import annotations

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge


def read_body() -> bytes:
    """The request body; 413 when it is over MAX_BODY_BYTES.

    Flask checks Content-Length up front, but cuts a chunked body off at the limit without a
    word: one more byte waiting behind it means the body was too large.
    """
    data = request.get_data(cache=False)
    at_limit = len(data) >= current_app.config["MAX_CONTENT_LENGTH"]
    if at_limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return data
