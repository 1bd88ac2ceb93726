"""A web server holding images at a "public" address, for the tests of fetching by URL.

It listens on 127.0.0.2, which the services under test are told to treat as public
(FETCH_PRIVATE_NETWORKS=127.0.0.2/32), so the fetcher's checks run for real: 127.0.0.1 and
every other private address stay refused. It logs each path it is asked for.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.pictures import encoded, pattern

ADDRESS = "127.0.0.2"
NETWORK = f"{ADDRESS}/32"
PHOTO = pattern(900, 600, seed=1)
HUGE_BYTES = 30 * 1024 * 1024


class ImageHost:
    """The server, its address and what it was asked for."""

    def __init__(self, loopback_url: str) -> None:
        self.asked: list[str] = []
        self.loopback_url = loopback_url  # where /to-loopback sends a client
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.asked.append(self.path)
                host.answer(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((ADDRESS, 0), Handler)
        self.url = f"http://{ADDRESS}:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path
        if path == "/photo.png":
            self._send(request, 200, "image/png", encoded(PHOTO))
        elif path == "/page":
            self._send(request, 200, "text/html", b"<p>no image here</p>")
        elif path == "/to-loopback":
            self._redirect(request, self.loopback_url)
        elif path.startswith("/hop/"):
            left = int(path.rsplit("/", 1)[1])
            self._redirect(request, f"/hop/{left - 1}" if left else "/photo.png")
        elif path == "/huge.png":
            # No Content-Length: the size shows only as the bytes arrive.
            request.send_response(200)
            request.send_header("Content-Type", "image/png")
            request.send_header("Connection", "close")
            request.end_headers()
            block = b"\0" * 65536
            try:
                for _ in range(HUGE_BYTES // len(block)):
                    request.wfile.write(block)
            except OSError:
                pass  # the fetcher hung up at its cap, as it should
        else:
            self._send(request, 404, "text/plain", b"not here")

    def _send(self, request: BaseHTTPRequestHandler, status: int, kind: str, body: bytes) -> None:
        request.send_response(status)
        request.send_header("Content-Type", kind)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def _redirect(self, request: BaseHTTPRequestHandler, location: str) -> None:
        request.send_response(302)
        request.send_header("Location", location)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
