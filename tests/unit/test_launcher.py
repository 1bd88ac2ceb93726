"""The command the launcher runs the stand-in with, as the stand-in reads it."""

from __future__ import annotations

import socket

from flux_service.launcher import standin_command
from flux_service.standin.__main__ import parse_arguments


def test_a_token_and_account_that_begin_with_a_dash_reach_the_standin() -> None:
    # secrets.token_urlsafe begins with "-" once in 64 draws.
    with socket.socket() as listener:
        command = standin_command(listener, "-Lk5pMrf", "-demo", "--account=-b:-t", "--latency=2")
        fd = listener.fileno()
    arguments = parse_arguments(command[3:])
    assert command[1:3] == ["-m", "flux_service.standin"]
    assert arguments.fd == fd
    assert arguments.token == "-Lk5pMrf"
    assert arguments.account == ["-demo", "-b:-t"]
    assert arguments.latency == 2
