"""JSON answers: the one builder every view answers through, and the error handlers, which
answer every error, ours or Flask's, through it (or through a door's own renderer)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import orjson
from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from ..errors import FluxError, StatusError, unknown_route

log = logging.getLogger(__name__)


def json_response(body: object, status: int = 200, headers: Mapping[str, str] = {}) -> Response:
    """`body` as an application/json answer (orjson: a tenth of the time of Flask's jsonify)."""
    return Response(orjson.dumps(body), status=status, mimetype="application/json", headers=headers)


def error_response(error: FluxError) -> Response:
    """The JSON answer for `error`, with its status and headers."""
    return json_response(error.to_dict(), error.status, error.headers())


def register_error_handlers(
    target: Flask | Blueprint, render: Callable[[FluxError], Response] = error_response
) -> None:
    """Answer every error on `target`, ours or Flask's, through `render` (the OpenAI shape
    unless a door speaks another)."""

    @target.errorhandler(FluxError)
    def handle_flux_error(error: FluxError) -> Response:
        return render(error)

    @target.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        # Flask's 404s come from routing, when no route matched: a blueprint never sees one.
        if error.code == 404:
            return render(unknown_route(request.method, request.path))
        response = render(StatusError(error.code or 500))
        if error.code == 405:
            response.headers["Allow"] = ", ".join(getattr(error, "valid_methods", None) or [])
        return response

    @target.errorhandler(Exception)
    def handle_unexpected(_error: Exception) -> Response:
        log.exception("unexpected error while answering a request")
        return render(FluxError("The server hit an unexpected error."))
