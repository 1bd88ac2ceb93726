"""JSON answers: the one builder every view and error handler answers through."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from flask import Response


def json_response(body: object, status: int = 200, headers: Mapping[str, str] = {}) -> Response:
    """`body` as an application/json answer (orjson: a tenth of the time of Flask's jsonify)."""
    return Response(orjson.dumps(body), status=status, mimetype="application/json", headers=headers)
