"""The client's connection as gunicorn hands it to a request: is the client still there?"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable, Mapping


def still_connected(environ: Mapping[str, object]) -> Callable[[], bool]:
    """A check that the client of this request has not closed its connection.

    A closed connection reads as ready with nothing in it; a client that sent more (the next
    request) has something to read, and is still there. Without gunicorn's socket (in the
    tests' own process) the client is always there.
    """
    sock = environ.get("gunicorn.socket")
    if not isinstance(sock, socket.socket):
        return lambda: True

    def connected() -> bool:
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return not readable or sock.recv(1, socket.MSG_PEEK) != b""
        except (OSError, ValueError):
            return False

    return connected
