"""JSON answers: the one builder every view answers through, and the error handlers, which
answer every error, ours or Flask's, through it."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from ..errors import FluxError, StatusError, unknown_route

log = logging.getLogger(__name__)


def json_response(body: object, status: int = 200, headers: Mapping[str, str] = {}) -> Response:
    """`body` as an application/json answer (orjson: a tenth of the time of Flask's jsonify)."""
    return Response(orjson.dumps(body), status=status, mimetype="application/json", headers=headers)


def error_response(error: FluxError) -> Response:
    """The JSON answer for `error`, with its status and headers."""
    return json_response(error.to_dict(), error.status, error.headers())


def register_error_handlers(app: Flask) -> None:
    """Answer every error, ours or Flask's, in the OpenAI shape."""

    @app.errorhandler(FluxError)
    def handle_flux_error(error: FluxError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        if error.code == 404:
            return error_response(unknown_route(request.method, request.path))
        response = error_response(StatusError(error.code or 500))
        if error.code == 405:
            response.headers["Allow"] = ", ".join(getattr(error, "valid_methods", None) or [])
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(_error: Exception) -> Response:
        log.exception("unexpected error while answering a request")
        return error_response(FluxError("The server hit an unexpected error."))
