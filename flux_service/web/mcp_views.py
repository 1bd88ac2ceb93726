"""The MCP door: `POST /mcp`, the Model Context Protocol's Streamable HTTP transport, each
request answered with one JSON object (or 202 for what needs no answer). No session and no
stream: GET and DELETE answer 405.

The view reads the body within MAX_BODY_BYTES, reads the message (`wire/mcp_protocol.py`:
which revision it speaks, its envelope and headers checked), answers the method, and runs
tools through `mcp_calls.py`. The API key, RATE_LIMIT, the budgets, metrics and the request
log treat it as every other route. Every refusal on /mcp, ours or Flask's, from the Origin
check to a body over the limit, answers as a JSON-RPC error with its HTTP status, so that an
MCP client shows its message.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, request
from werkzeug.exceptions import HTTPException

from ..errors import (
    AuthenticationError,
    FluxError,
    ForbiddenError,
    InvalidRequestError,
    ProtocolError,
    StatusError,
)
from ..wire.mcp_protocol import (
    ASSUMED_VERSION,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    LIST_TTL_MS,
    MODERN_VERSIONS,
    PARSE_ERROR,
    ROUTING_HEADERS,
    VERSION_HEADER,
    Message,
    check_modern,
    completed,
    discover_result,
    error_body,
    initialize_result,
    is_modern,
    legacy_version,
    method_not_found,
    modern_version,
    read_batch,
    read_message,
    request_id,
    result_body,
)
from ..wire.mcp_tools import EDIT, GENERATE, MODELS, tools
from ..wire.translations import kept_for
from .auth import request_key, require_api_key
from .bodies import read_json
from .json_response import json_response
from .mcp_calls import call_tool, editor
from .state import current_state

log = logging.getLogger(__name__)

bp = Blueprint("mcp", __name__)


@bp.post("/mcp")
@require_api_key
def mcp() -> Response:
    """One JSON-RPC message (or a 2025-03-26 batch) in, one JSON answer out."""
    body = _read()
    header = request.headers.get(VERSION_HEADER)
    if isinstance(body, list):
        return _batch(body, header)
    g.mcp_id = request_id(body)
    answer = _answer(read_message(body), header)
    return _accepted() if answer is None else json_response(answer)


@bp.route("/mcp", methods=["GET", "DELETE"])
def no_stream() -> Response:
    """GET and DELETE: this server opens no stream and keeps no session."""
    message = "This MCP endpoint takes POST alone: it opens no stream and keeps no session."
    return json_response(error_body(None, INVALID_REQUEST, message), 405, {"Allow": "POST"})


@bp.before_request
def check_origin() -> None:
    """Refuse a browser page of another origin (403): the transport's guard against DNS
    rebinding. Requests without an Origin, as desktop and server clients send, pass."""
    origin = request.headers.get("Origin")
    if origin is None or _allowed(origin):
        return
    raise ForbiddenError(
        f"Requests to /mcp from pages at {origin[:100]} are refused: the operator lets "
        "browser pages in by their origin, in MCP_ALLOWED_ORIGINS.",
        code="origin_not_allowed",
    )


def _allowed(origin: str) -> bool:
    settings = current_state().settings
    allowed, origin = settings.mcp_allowed_origins, origin.lower()
    base = urlsplit(settings.public_base_url)
    own = f"{base.scheme}://{base.netloc}".lower() if base.netloc else None
    return "*" in allowed or origin in allowed or origin == own


def _read() -> Any:
    """The body's JSON; a parse error (-32700) when it is none."""
    try:
        return read_json()
    except InvalidRequestError as error:
        raise ProtocolError(f"Parse error: {error.message}", PARSE_ERROR) from None


def _answer(message: Message, header: str | None) -> dict | None:
    """The answer to `message`; None for a notification or a response, which get 202."""
    if is_modern(message, header):
        if message.method is None:
            raise ProtocolError("A client sends no responses in 2026-07-28.", INVALID_REQUEST)
        if not message.answered:
            check_modern(header)
            return None
        sent = {name: request.headers[name] for name in ROUTING_HEADERS if name in request.headers}
        version = modern_version(message, sent)
    else:
        version = legacy_version(header)
        if not message.answered:
            return None
    result = _run(message, version)
    return result_body(message.id, completed(result, version))


def _batch(items: list[Any], header: str | None) -> Response:
    """A 2025-03-26 batch: each request answered in turn, as an array; 202 if none is."""
    if header not in (None, ASSUMED_VERSION):
        raise ProtocolError(
            "Batches are 2025-03-26's alone; later revisions send one message a request.",
            INVALID_REQUEST,
        )
    answers = []
    for message in read_batch(items):
        if not message.answered:
            continue
        try:
            if message.method == "initialize":
                raise ProtocolError("initialize must not be part of a batch.", INVALID_REQUEST)
            answers.append(result_body(message.id, _run(message, ASSUMED_VERSION)))
        except ProtocolError as error:
            answers.append(error_body(message.id, error.rpc_code, error.message, error.data))
    return json_response(answers) if answers else _accepted()


def _accepted() -> Response:
    """202 Accepted, with no body (and so no Content-Type): what needs no answer."""
    response = Response(status=202)
    del response.headers["Content-Type"]
    return response


def _run(message: Message, version: str) -> dict:
    """The result of request `message` in `version`, or the ProtocolError that refuses it."""
    method, params = message.method or "", message.params
    g.log_fields["mcp"] = method[:100]
    modern = version in MODERN_VERSIONS
    if method == "initialize" and not modern:
        requested = params.get("protocolVersion")
        if not isinstance(requested, str):
            raise ProtocolError("initialize names its `protocolVersion`.", INVALID_PARAMS)
        return initialize_result(requested, _instructions())
    if method == "ping" and not modern:
        return {}
    if method == "server/discover" and modern:
        return discover_result(_instructions())
    if method == "tools/list":
        if params.get("cursor") is not None:
            raise ProtocolError("Invalid cursor: every tool comes in one page.", INVALID_PARAMS)
        state = current_state()
        listed = tools(state.models, editor(), state.settings.image_expiration, version)
        if modern:
            return {"tools": listed, "ttlMs": LIST_TTL_MS, "cacheScope": "public"}
        return {"tools": listed}
    if method == "tools/call":
        return _call(params, version)
    raise method_not_found(method[:100])


def _call(params: dict, version: str) -> dict:
    name, arguments = params.get("name"), params.get("arguments", {})
    if not isinstance(name, str):
        raise ProtocolError("tools/call names its tool in `name`, a string.", INVALID_PARAMS)
    if name not in _tool_names():
        raise ProtocolError(f"Unknown tool: {name[:100]}", INVALID_PARAMS)
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise ProtocolError("`arguments` must be a JSON object.", INVALID_PARAMS)
    return call_tool(name, arguments, version)


def _tool_names() -> set[str]:
    return {GENERATE, MODELS} | ({EDIT} if editor() is not None else set())


def _instructions() -> str:
    kept = kept_for(current_state().settings.image_expiration)
    return (
        "Flux API draws images with FLUX models on Cloudflare Workers AI. generate_image "
        "draws from a prompt; edit_image changes images given as http(s) URLs, data: URIs or "
        f"the links this service returned; {MODELS} tells what each model can do and costs. "
        f"Each result shows a preview of every image and links the full one, kept {kept}: "
        "give the user the link."
    )


@bp.errorhandler(FluxError)
def protocol_failure(error: FluxError) -> Response:
    """Any refusal on /mcp as a JSON-RPC error, with its status and headers."""
    if isinstance(error, ProtocolError):
        code, data = error.rpc_code, error.data
    else:
        code, data = (INVALID_REQUEST if error.status < 500 else INTERNAL_ERROR), None
    g.setdefault("log_fields", {})["rpc_error"] = code
    headers = error.headers()
    if isinstance(error, AuthenticationError):
        # RFC 6750: no error code when no key came at all.
        sent = request_key() is not None
        headers["WWW-Authenticate"] = 'Bearer realm="Flux API"' + (
            ', error="invalid_token"' if sent else ""
        )
    body = error_body(g.get("mcp_id"), code, error.message, data)
    return json_response(body, error.status, headers)


@bp.errorhandler(HTTPException)
def http_failure(error: HTTPException) -> Response:
    """Flask's own refusals on /mcp (a body over the limit, …), as JSON-RPC errors."""
    return protocol_failure(StatusError(error.code or 500))


@bp.errorhandler(Exception)
def unexpected_failure(_error: Exception) -> Response:
    log.exception("unexpected error while answering a request")
    return protocol_failure(FluxError("The server hit an unexpected error."))
