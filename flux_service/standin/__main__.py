"""Run the stand-in: `python -m flux_service.standin --port 8788 [--latency 5]`."""

from __future__ import annotations

import argparse

from gunicorn.app.base import BaseApplication

from . import create_app


class _StandinServer(BaseApplication):
    """Gunicorn with gevent, one process (the stand-in keeps its faults and records in memory)."""

    def __init__(self, options: dict[str, object], app_options: dict[str, object]) -> None:
        self._options = options
        self._app_options = app_options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self):  # type: ignore[no-untyped-def]
        return create_app(**self._app_options)


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Workers AI look-alike.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8788)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per picture")
    parser.add_argument("--token", default="standin-token")
    parser.add_argument("--account", default="standin-account")
    parser.add_argument("--optimizer-key", default="")
    parser.add_argument("--gateway-token", default="")
    args = parser.parse_args()
    options = {
        "bind": f"{args.host}:{args.port}",
        "workers": 1,
        "worker_class": "gevent",
        "worker_connections": 10000,
        "timeout": 600,
        "loglevel": "warning",
        "control_socket_disable": True,
    }
    app_options = {
        "token": args.token,
        "account": args.account,
        "latency": args.latency,
        "optimizer_key": args.optimizer_key,
        "gateway_token": args.gateway_token,
    }
    _StandinServer(options, app_options).run()


if __name__ == "__main__":
    main()
