"""still_connected on a real socket pair in this process: a client that is there, one that sent
its next request, one that left, and the same with descriptors past 1023, as a worker holding
hundreds of streams has."""

from __future__ import annotations

import contextlib
import resource
import socket
from collections.abc import Iterator

import pytest

from flux_service.web.connection import still_connected

HIGH = 1100  # past select()'s FD_SETSIZE of 1024


@contextlib.contextmanager
def pair(high: bool) -> Iterator[tuple[socket.socket, socket.socket]]:
    """The service's end and the client's; with `high`, numbered past 1023."""
    held: list[socket.socket] = []
    try:
        if high:
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            if hard != resource.RLIM_INFINITY and hard < HIGH + 16:
                pytest.fail(f"the open-files limit ({hard}) is too low for this test")
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, HIGH + 16), hard))
            while len(held) < HIGH:
                held.append(socket.socket())
        ours, theirs = socket.socketpair()
        held += [ours, theirs]
        assert (ours.fileno() >= 1024) == high
        yield ours, theirs
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize("high", [False, True], ids=["low", "high"])
def test_the_check_tells_a_client_that_left_from_one_that_is_there(high: bool) -> None:
    with pair(high) as (ours, theirs):
        connected = still_connected({"gunicorn.socket": ours})
        assert connected()  # there, quiet
        theirs.sendall(b"GET /next HTTP/1.1\r\n")
        assert connected()  # there, with its next request
        assert ours.recv(100) == b"GET /next HTTP/1.1\r\n"
        theirs.close()
        assert not connected()  # gone


def test_without_gunicorns_socket_the_client_is_there() -> None:
    assert still_connected({})()
