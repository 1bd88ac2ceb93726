"""The ways the stand-in can misbehave on purpose, one queued fault per request.

A fault is a JSON object with a `kind`:

    error         {"status": 500, "code": 3043, "message": "..."}: Cloudflare's error envelope
    success_false HTTP 200 whose envelope says success: false
    delay         {"seconds": 2}: answer normally, that much later
    hang          {"seconds": 3600}: answer nothing for that long
    garbage       an HTML page instead of JSON ({"status": 502} to pick the status)
    bad_base64    an envelope whose image is not base64
    not_image     bytes that are no image
    truncated     the first half of the image
    empty         an envelope with success: true and no image
    reset         the connection is dropped without an answer
    cut           the answer starts, then the connection drops halfway through the body
Optimizer faults: error, delay, garbage, empty (no content), nonsense (no choices), huge.

A Workers AI fault with `"account": "<id>"` waits for a request to that account's URL; the
others take the next request to any account.

With a fault rate set, random faults are drawn from `RANDOM_FAULTS`. Hangs are left out:
each would only hold one client until UPSTREAM_TIMEOUT.
"""

from __future__ import annotations

import base64
import socket
import struct
import time
from typing import Any

from flask import Response, jsonify, request

from .schemas import Schema

Fault = dict[str, Any]

# (weight, fault): mostly the passing trouble Workers AI really has (no capacity, internal
# errors, dropped connections), now and then an answer that makes no sense.
RANDOM_FAULTS: dict[str, tuple[tuple[int, Fault], ...]] = {
    "workers_ai": (
        (3, {"kind": "error", "status": 500, "code": 3043, "message": "Internal server error"}),
        (2, {"kind": "error", "status": 503, "code": 3043, "message": "Service unavailable"}),
        (3, {"kind": "error", "status": 429, "code": 3040, "message": "Capacity exceeded"}),
        (2, {"kind": "reset"}),
        (1, {"kind": "cut"}),
        (2, {"kind": "delay", "seconds": 1}),
        (1, {"kind": "success_false", "code": 3043}),
        (1, {"kind": "garbage", "status": 502}),
        (1, {"kind": "truncated"}),
        (1, {"kind": "bad_base64"}),
        (1, {"kind": "not_image"}),
    ),
    "optimizer": (
        (2, {"kind": "error", "status": 500}),
        (1, {"kind": "error", "status": 429}),
        (1, {"kind": "reset"}),
        (1, {"kind": "garbage", "status": 502}),
        (1, {"kind": "empty"}),
        (1, {"kind": "nonsense"}),
        (1, {"kind": "delay", "seconds": 1}),
    ),
}


def fault_label(fault: Fault) -> str:
    """A fault's kind, with its status when it has one: "error 503", "reset"."""
    return f"{fault['kind']} {fault['status']}" if "status" in fault else fault["kind"]


def cf_error(status: int, code: int, message: str) -> Response:
    """Cloudflare's error envelope."""
    body = {
        "result": None,
        "success": False,
        "errors": [{"code": code, "message": message}],
        "messages": [],
    }
    response = jsonify(body)
    response.status_code = status
    return response


def workers_ai_fault_response(fault: Fault, schema: Schema, image: bytes) -> Response | None:
    """The faulty answer for `fault`, or None when the normal answer should follow."""
    kind = fault["kind"]
    if kind in ("delay", "hang"):
        time.sleep(float(fault.get("seconds", 3600 if kind == "hang" else 1)))
        return None
    if kind == "error":
        return cf_error(
            int(fault["status"]), int(fault.get("code", 0)), fault.get("message", "error")
        )
    if kind == "success_false":
        response = cf_error(
            200, int(fault.get("code", 3043)), fault.get("message", "Internal error")
        )
        return response
    if kind == "garbage":
        return _garbage(int(fault.get("status", 200)))
    if kind == "reset":
        return _reset()
    if kind == "cut":
        return _cut(image if schema.output == "binary" else b'{"result": {"image": "' + image)
    payload = {
        "not_image": b"this is not an image at all",
        "truncated": image[: len(image) // 2],
    }.get(kind)
    if schema.output == "binary":
        return Response(payload or b"not an image", mimetype=schema.content_type)
    if kind == "bad_base64":
        return _envelope({"image": "this is *not* base64!"})
    if kind == "empty":
        return _envelope({})
    if payload is not None:
        return _envelope({"image": base64.b64encode(payload).decode()})
    raise ValueError(f"unknown fault kind {kind!r}")


def optimizer_fault_response(fault: Fault, content: str) -> Response | None:
    """The optimizer's faulty answer for `fault`, or None when the normal answer follows."""
    kind = fault["kind"]
    if kind == "delay":
        time.sleep(float(fault.get("seconds", 1)))
        return None
    if kind == "error":
        response = jsonify({"error": {"message": "upstream trouble", "type": "server_error"}})
        response.status_code = int(fault.get("status", 500))
        return response
    if kind == "garbage":
        return _garbage(int(fault.get("status", 200)))
    if kind == "reset":
        return _reset()
    choices: list[dict[str, Any]] = {
        "empty": [{"index": 0, "message": {"role": "assistant", "content": ""}}],
        "nonsense": [],
        "huge": [
            {"index": 0, "message": {"role": "assistant", "content": content + " very" * 3000}}
        ],
    }[kind]
    return jsonify({"id": "chatcmpl-standin", "object": "chat.completion", "choices": choices})


def _envelope(result: dict[str, Any]) -> Response:
    return jsonify({"result": result, "success": True, "errors": [], "messages": []})


def _garbage(status: int) -> Response:
    return Response(
        "<html><body><h1>Bad gateway</h1></body></html>", status=status, mimetype="text/html"
    )


def _cut(body: bytes) -> Response:
    socket_ = request.environ.get("gunicorn.socket")

    def half_then_drop():
        yield body[: len(body) // 2]
        if isinstance(socket_, socket.socket):
            socket_.shutdown(socket.SHUT_RDWR)

    # The promised length is the whole body; the client gets half and then nothing.
    return Response(half_then_drop(), headers={"Content-Length": str(len(body))})


# A caller in the same process, with no socket to drop, puts a function here that does it.
DROP = "standin.drop"


def _reset() -> Response:
    # Drop the TCP connection under the server's feet: the client sees a reset.
    raw = request.environ.get("gunicorn.socket")
    if isinstance(raw, socket.socket):
        # SO_LINGER on, with a zero timeout: closing sends RST instead of FIN. The socket is
        # shut here and closed by gunicorn, which owns it: closing it under gunicorn's feet
        # would free its descriptor for the next connection while gunicorn still uses it.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.shutdown(socket.SHUT_RDWR)
    elif callable(drop := request.environ.get(DROP)):
        drop()
    return Response(b"", status=500)
