"""The gunicorn worker: gevent's own, with a time limit on every client socket and gunicorn's
refusals (a malformed request line, a URI or headers too large) in the OpenAI error shape.

gunicorn already bounds how long a client may take to send a request's headers (`keepalive`,
in the gevent worker) and how large they may be (`limit_request_*`); this adds a limit on
each read of the body and each write of the answer, so a client that uploads a byte at a
time or never reads its answer is let go after CLIENT_TIMEOUT seconds.

It also keeps gunicorn from inviting a body the app will refuse: gunicorn answers
`Expect: 100-continue` as it builds the environ, before the app has seen the request. One
whose Content-Length is over MAX_BODY_BYTES gets no `100 Continue`: the app answers it at
once (a 413 in the OpenAI shape, with CORS and a log line) and the connection is closed, as
its body was never read.

And it sends files with the kernel's sendfile: gevent's own `socket.sendfile` copies them
through Python 8 KB at a time (the system call would block the loop, it says), which made
pictures from the disk store slower than from memory. `_sendfile` calls it without blocking
and waits for the socket between calls, as gevent does for every send.
"""

from __future__ import annotations

import json
import os
import socket
from typing import BinaryIO

from gevent import socket as gevent_socket
from gunicorn import util
from gunicorn.http.message import Request
from gunicorn.workers.ggevent import GeventWorker

from config import DEFAULT_MAX_BODY_BYTES

# gunicorn's status for each refusal, and the code we give it.
_CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "request_line_too_long",
    417: "expectation_failed",
    431: "request_headers_too_large",
    501: "not_implemented",
}
MESSAGE_LIMIT = 200


class Worker(GeventWorker):
    """GeventWorker, with CLIENT_TIMEOUT on each client socket and JSON error pages."""

    client_timeout = 30.0  # gunicorn.conf.py's post_fork sets CLIENT_TIMEOUT here
    max_body_bytes = DEFAULT_MAX_BODY_BYTES  # and MAX_BODY_BYTES here

    def init_process(self) -> None:
        # gunicorn writes its own refusals through util.write_error, as an HTML page.
        util.write_error = write_json_error
        gevent_socket.socket.sendfile = _sendfile
        super().init_process()

    def handle_request(
        self, listener_name: object, req: Request, sock: socket.socket, addr: object
    ) -> bool:
        sock.settimeout(self.client_timeout)
        if req._expected_100_continue and _content_length(req) > self.max_body_bytes:
            req._expected_100_continue = False
            req.force_close()
        return super().handle_request(listener_name, req, sock, addr)


def _sendfile(
    sock: gevent_socket.socket, file: BinaryIO, offset: int = 0, count: int | None = None
) -> int:
    """`count` bytes of `file` from `offset` (to its end without a count) sent by the kernel,
    waiting for room on the socket, within its timeout, between calls; the file is left
    past what was sent, as socket.sendfile leaves it."""
    out, source = sock.fileno(), file.fileno()
    left = count if count else os.fstat(source).st_size - offset
    sent = 0
    while left > 0:
        try:
            done = os.sendfile(out, source, offset + sent, left)
        except BlockingIOError:
            gevent_socket.wait_write(out, timeout=sock.gettimeout())
            continue
        if done == 0:
            break  # the file is shorter than it was said to be
        sent += done
        left -= done
    file.seek(offset + sent)
    return sent


def _content_length(req: Request) -> int:
    """The request's Content-Length, which gunicorn has checked is one number; 0 without."""
    for name, value in req.headers:
        if name == "CONTENT-LENGTH":
            return int(value)
    return 0


def write_json_error(sock: socket.socket, status: int, reason: str, message: str) -> None:
    """gunicorn's refusal of a request it could not read, as an OpenAI error body."""
    said = f"{reason}: {message}" if message else reason
    if len(said) > MESSAGE_LIMIT:
        said = said[: MESSAGE_LIMIT - 1] + "…"
    error = {
        "message": said,
        "type": "invalid_request_error" if status < 500 else "server_error",
        "param": None,
        "code": _CODES.get(status),
    }
    body = json.dumps({"error": error}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    util.write_nonblock(sock, head + body)
