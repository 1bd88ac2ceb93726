"""The floor of the overhead: the least a gunicorn + gevent + requests proxy can add.

A bare WSGI app, served like the service, that forwards each request to the stand-in with
requests and answers a few bytes: no Flask, no parsing, no image. What the service adds
above this is the cost of its own work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import requests


def make_app(target: str, token: str) -> Callable[[dict, Callable], Iterable[bytes]]:
    """A WSGI app that posts the benchmark's prompt to `target` and answers {"ok": true}."""
    session = requests.Session()
    session.trust_env = False
    headers = {"Authorization": f"Bearer {token}"}
    body = {"prompt": "a red fox in deep snow, golden hour", "steps": 4}

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        environ["wsgi.input"].read()
        with session.post(target, json=body, headers=headers, stream=True) as answer:
            answer.raw.read()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "12")])
        return [b'{"ok": true}']

    return app
