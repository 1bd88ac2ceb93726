"""Run the stand-in: `python -m flux_service.standin --port 8788 [--latency 5]`.

`--account ID` with `--token TOKEN` plays one Cloudflare account; `--account ID:TOKEN`,
repeated, plays several, each with its own token (an `--account ID` among them takes
`--token`).

`--fd N` serves on an already listening socket the caller opened and passed on, so a test
or `make run` knows the address before the stand-in starts and no other program can take it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial

from flask import Flask
from gunicorn.app.base import BaseApplication

from . import DEFAULT_ACCOUNT, DEFAULT_TOKEN, create_app


class _StandinServer(BaseApplication):
    """Gunicorn with gevent, one process (the stand-in keeps its faults and records in memory)."""

    def __init__(self, options: dict[str, object], make_app: Callable[[], Flask]) -> None:
        self._options = options
        self._make_app = make_app
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        # In the worker, after gevent has patched it: the app's locks are made gevent-aware.
        return self._make_app()


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (`argv`, default: this process's)."""
    parser = argparse.ArgumentParser(description="A local Workers AI look-alike.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8788)
    parser.add_argument("--fd", type=int, help="serve on this inherited listening socket")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per image")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--account", action="append", help="ID, or ID:TOKEN; repeatable")
    parser.add_argument("--optimizer-key", default="")
    parser.add_argument("--gateway-token", default="")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_arguments()
    options = {
        "bind": f"fd://{args.fd}" if args.fd is not None else f"{args.host}:{args.port}",
        "workers": 1,
        "worker_class": "gevent",
        "worker_connections": 10000,
        "timeout": 600,
        # Cloudflare keeps an idle connection far longer than gunicorn's default of 2 s; at
        # 2 s, a call sent on a kept connection just as it closed would fail.
        "keepalive": 75,
        # Stopped, it has nothing worth finishing. And a worker that a stop reaches while it
        # boots still has the master's handlers, which only queue the signal: it would run on
        # until the master's default 30 s were up.
        "graceful_timeout": 1,
        "loglevel": "warning",
        "control_socket_disable": True,
    }
    make_app = partial(
        create_app,
        accounts=accounts(args.account or [DEFAULT_ACCOUNT], args.token),
        latency=args.latency,
        optimizer_key=args.optimizer_key,
        gateway_token=args.gateway_token,
    )
    _StandinServer(options, make_app).run()


def accounts(entries: list[str], token: str) -> dict[str, str]:
    """The accounts `--account` names, id to token: `ID:TOKEN`, or `ID` with `token`."""
    played = {}
    for entry in entries:
        account, _, own = entry.partition(":")
        played[account] = own or token
    return played


if __name__ == "__main__":
    main()
