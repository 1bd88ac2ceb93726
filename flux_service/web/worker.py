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
images from the disk store slower than from memory. `_sendfile` calls it without blocking
and waits for the socket between calls, as gevent does for every send.

And when a worker holds WORKER_CONNECTIONS connections and another client waits to be let in,
it closes the connections that have waited longest for their next request, as nginx does when
its connections run out (`ngx_drain_connections`). gevent's server would stop accepting and
leave the newcomer in the kernel's queue until an idle connection timed out (IDLE_TIMEOUT), so
4,100 sockets that send nothing kept everyone else out. A connection is idle from the moment it
waits for a request until that request's first bytes arrive; one with a request in flight (a
generation waiting on Workers AI, a stream being written) is never closed this way, and when
all are busy, newcomers wait in the kernel's queue as before.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import time
from collections.abc import Callable
from functools import partial
from typing import BinaryIO, Generic, TypeVar

import gevent
from gevent import socket as gevent_socket
from gevent.pool import Pool
from gunicorn import util
from gunicorn.http import parser
from gunicorn.http.message import Request
from gunicorn.http.unreader import SocketUnreader
from gunicorn.workers import ggevent
from gunicorn.workers.ggevent import GeventWorker

from config import DEFAULT_CLIENT_TIMEOUT, DEFAULT_MAX_BODY_BYTES

from .connection import peek

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
# nginx's numbers: a full worker closes an eighth of its idle connections, at least one and at
# most 32 at a time. One at a time would cost a turn of the event loop for each client let in
# during a flood; all of them at once would cut off every keep-alive client for one newcomer.
DRAIN_SHARE = 8
DRAIN_MOST = 32
DRAIN_LOG_SECONDS = 1.0

_Connection = TypeVar("_Connection")


class Worker(GeventWorker):
    """GeventWorker, with CLIENT_TIMEOUT on each client socket and JSON error pages, which
    closes idle connections to let new clients in when it is full."""

    client_timeout = DEFAULT_CLIENT_TIMEOUT  # gunicorn.conf.py's post_fork sets CLIENT_TIMEOUT
    max_body_bytes = DEFAULT_MAX_BODY_BYTES  # and MAX_BODY_BYTES here

    def init_process(self) -> None:
        # gunicorn writes its own refusals through util.write_error, as an HTML page.
        util.write_error = write_json_error
        gevent_socket.socket.sendfile = _sendfile
        # Connections are known by the greenlet that handles each, which every hook runs in.
        self.idle: IdleConnections[gevent.Greenlet] = IdleConnections()
        self._clients: dict[gevent.Greenlet, socket.socket] = {}
        self._closing: set[gevent.Greenlet] = set()  # closed to make room, slots not yet free
        self._pool: _Pool | None = None
        self._closed = 0  # idle connections closed since the last line said so
        self._next_line = 0.0
        # gunicorn builds each listener's pool, and each connection's reader, from these names.
        ggevent.Pool = self._new_pool
        parser.SocketUnreader = partial(_Unreader, idle=self.idle)
        super().init_process()

    def handle(self, listener: socket.socket, client: socket.socket, addr: object) -> None:
        handler = gevent.getcurrent()
        self._clients[handler] = client
        try:
            super().handle(listener, client, addr)
        finally:
            del self._clients[handler]
            self.idle.discard(handler)

    def timeout_ctx(self) -> gevent.Timeout:
        # gunicorn's keep-alive loop calls this as a connection starts to wait for a request.
        self.idle.add(gevent.getcurrent())
        # A client may be waiting for a slot that connections all busy till now held.
        if self._pool is not None and self._pool.free_count() == 0:
            self._watch_for_clients()
        return super().timeout_ctx()

    def handle_request(
        self, listener_name: object, req: Request, sock: socket.socket, addr: object
    ) -> bool:
        # Already so, unless the request came in with the one before (or just as it was closed).
        self.idle.discard(gevent.getcurrent())
        self._closing.discard(gevent.getcurrent())
        sock.settimeout(self.client_timeout)
        if req._expected_100_continue and _content_length(req) > self.max_body_bytes:
            req._expected_100_continue = False
            req.force_close()
        return super().handle_request(listener_name, req, sock, addr)

    def _new_pool(self, size: int) -> Pool:
        if len(self.sockets) != 1:
            # Each listener has a pool of its own, and closing the idle connections of one
            # would not make room in another: these keep gevent's way.
            return Pool(size)
        self._pool = _Pool(size, self._watch_for_clients)
        # gevent's server stops watching its listener while the pool is full; this watches.
        self._arrivals = gevent.get_hub().loop.io(self.sockets[0].fileno(), 1)
        return self._pool

    def _watch_for_clients(self) -> None:
        """The pool is full: let the next client that comes in, if idle connections allow."""
        # While those closed last are ending, their slots are on the way: the server accepts
        # again once they are free, and its pool tells again if it is full then.
        if self.alive and not self._closing and not self._arrivals.active:
            self._arrivals.start(self._let_in)

    def _let_in(self) -> None:
        """A client waits and the pool is full: close the connections idle longest."""
        self._arrivals.stop()
        if not self.alive or self._closing or self._pool is None or self._pool.free_count():
            return
        for handler in self.idle.take_longest_idle():
            if _hang_up(self._clients[handler]):
                self._closing.add(handler)
                # Run after the pool's own link, which frees the slot.
                handler.rawlink(self._closing.discard)
                self._closed += 1
        now = time.monotonic()
        if self._closed and now >= self._next_line:
            self.log.warning(
                "all %d connections in use: %d idle ones closed to let new clients in",
                self.worker_connections,
                self._closed,
            )
            self._closed, self._next_line = 0, now + DRAIN_LOG_SECONDS


class IdleConnections(Generic[_Connection]):
    """The connections waiting for their next request, those idle longest first."""

    def __init__(self) -> None:
        # A dict keeps its keys in the order they came: the first has waited longest.
        self._waiting: dict[_Connection, None] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, connection: object) -> bool:
        return connection in self._waiting

    def add(self, connection: _Connection) -> None:
        """`connection` waits for a request from now on."""
        self._waiting.pop(connection, None)
        self._waiting[connection] = None

    def discard(self, connection: _Connection) -> None:
        """`connection` has a request in flight, or is gone."""
        self._waiting.pop(connection, None)

    def take_longest_idle(self) -> list[_Connection]:
        """Those to close to make room, taken out: the longest idle eighth, at least one and at
        most DRAIN_MOST."""
        count = max(1, min(DRAIN_MOST, len(self._waiting) // DRAIN_SHARE))
        taken = list(itertools.islice(self._waiting, count))
        for connection in taken:
            del self._waiting[connection]
        return taken


class _Pool(Pool):
    """gevent's pool of a listener's connections, which says when it is full."""

    def __init__(self, size: int, when_full: Callable[[], None]) -> None:
        super().__init__(size)
        self._when_full = when_full

    def full(self) -> bool:
        # gevent's server asks before each accept, and stops accepting while it is full.
        if not super().full():
            return False
        self._when_full()
        return True


class _Unreader(SocketUnreader):
    """gunicorn's reader of a client socket, which marks its connection busy when bytes come."""

    def __init__(self, sock: socket.socket, idle: IdleConnections[gevent.Greenlet]) -> None:
        super().__init__(sock)
        self._idle = idle

    def chunk(self, size_hint: int | None = None) -> bytes:
        data: bytes = super().chunk(size_hint)
        # In the connection's greenlet, before it yields again: no connection whose request
        # has begun is closed.
        self._idle.discard(gevent.getcurrent())
        return data


def _hang_up(client: socket.socket) -> bool:
    """Shut an idle connection down, unless its next request has just arrived; its greenlet
    then reads the end of the stream and ends as if the client had left."""
    try:
        if peek(client):
            return False  # its next request came, not read yet: it is busy now
    except OSError:
        return False  # reset by the client: its greenlet ends anyway
    # The real socket: gevent's own shutdown would wake the greenlet with an error to log.
    with contextlib.suppress(OSError):  # reset just now: the same
        client._sock.shutdown(socket.SHUT_RDWR)  # type: ignore[attr-defined]
    return True


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
