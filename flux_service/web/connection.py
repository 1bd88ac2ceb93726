"""The client's connection as gunicorn hands it to a request: is the client still there?"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable, Mapping

from gevent.monkey import get_original

# The system's poll, not gevent's (which waits a turn of the loop), nor select(), which refuses
# descriptors past 1023: a worker holding 500 streams, each with its Workers AI connection,
# has more, and every stream would seem to have lost its client.
_poll = get_original("select", "poll")


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
            poller = _poll()
            poller.register(sock.fileno(), select.POLLIN)
            return not poller.poll(0) or sock.recv(1, socket.MSG_PEEK) != b""
        except (OSError, ValueError):
            return False

    return connected
