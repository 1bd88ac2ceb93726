"""The client's connection as gunicorn hands it to a request: is the client still there?"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping


def peek(sock: socket.socket) -> bytes | None:
    """The next byte the client sent, left in place; b"" once it has closed its end, None
    while nothing has come.

    It asks the real socket under gevent's, which would wait for a byte, and never waits:
    one call, with no limit on the descriptor's number (select() refuses those past 1023).
    """
    raw = getattr(sock, "_sock", sock)
    try:
        data: bytes = raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return None
    return data


def still_connected(environ: Mapping[str, object]) -> Callable[[], bool]:
    """A check that the client of this request has not closed its connection.

    A client that sent more (the next request) is still there. Without gunicorn's socket (in
    the tests' own process) the client is always there.
    """
    sock = environ.get("gunicorn.socket")
    if not isinstance(sock, socket.socket):
        return lambda: True

    def connected() -> bool:
        try:
            return peek(sock) != b""
        except OSError:  # reset by the client
            return False

    return connected
