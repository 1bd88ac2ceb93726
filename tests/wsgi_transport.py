"""A requests transport that hands each request to a WSGI app in this process: no sockets.

httpx's MockTransport, for requests: the service's own `requests.Session` reaches the Workers
AI stand-in (or any WSGI app) through it, so in-process tests run the real client code, with
its real retries, envelopes and errors, at the speed of a function call. An answer that took
longer than the read timeout is a ReadTimeout, as over a socket, but only once it has come.
"""

from __future__ import annotations

import http.client
import io
import time
from collections.abc import Callable, Iterable
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from werkzeug.test import EnvironBuilder, run_wsgi_app

from flux_service.standin.faults import DROP

WSGIApp = Callable[..., Iterable[bytes]]


class WSGITransport(HTTPAdapter):
    """Answers every request from `app`, as if it had gone over the network."""

    def __init__(self, app: WSGIApp) -> None:
        super().__init__()
        self.app = app

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, timeout: Any = None, **_options: Any
    ) -> requests.Response:
        body = request.body
        if hasattr(body, "read"):  # a file-like body
            body = body.read()  # type: ignore[union-attr]
        if isinstance(body, str):
            body = body.encode()
        environ = EnvironBuilder(
            path=request.path_url,
            base_url=_origin(request.url or ""),
            method=request.method,
            headers=dict(request.headers),
            data=body or b"",
        ).get_environ()
        dropped: list[bool] = []
        environ[DROP] = lambda: dropped.append(True)
        started = time.monotonic()
        chunks, status, headers = run_wsgi_app(self.app, environ)
        try:
            data = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        if dropped:
            raise requests.ConnectionError("the connection was reset")
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        if read_timeout is not None and time.monotonic() - started > read_timeout:
            raise requests.ReadTimeout(f"no answer within {read_timeout} s")
        promised = int(headers.get("Content-Length", len(data)))
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(data) if len(data) >= promised else _CutOff(data, promised),
            headers=list(headers.items()),
            status=int(status.split()[0]),
            reason=status.partition(" ")[2],
            preload_content=False,
            decode_content=False,
        )
        return self.build_response(request, raw)


class _CutOff(io.BytesIO):
    """A body shorter than its Content-Length: reading it fails as a dropped connection does."""

    def __init__(self, data: bytes, promised: int) -> None:
        super().__init__(data)
        self.promised = promised

    def read(self, size: int | None = -1) -> bytes:
        raise http.client.IncompleteRead(super().read(size), self.promised)


def wsgi_session(app: WSGIApp, origin: str) -> requests.Session:
    """A session whose requests to `origin` are answered by `app`."""
    session = requests.Session()
    session.trust_env = False
    session.mount(origin, WSGITransport(app))
    return session


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
