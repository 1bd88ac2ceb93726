"""The harness that tests and benchmarks start real servers with: the stand-in and the
service (as the Procfile does), Redis, and the browser's flags.

Every server listens on a socket the harness opened first and handed over, so its address is
known before it starts and no other program can take the port in between.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import redis
import requests

from flux_service.launcher import procfile_command, standin_command
from flux_service.standin import DEFAULT_ACCOUNT, DEFAULT_TOKEN

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

CHROMIUM = "/usr/bin/chromium"
# Headless, and quiet: this machine reaches no network, so no background connections.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Server:
    """A server process we started, and where it listens."""

    process: subprocess.Popen
    url: str

    def stop(self) -> None:
        """Stop the process at once (gunicorn's quick shutdown), killing it if it lingers."""
        stop_all([self])

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def stop_all(servers: Iterable[Server]) -> None:
    """Stop every server at once: all are told first, then each is waited for."""
    running = [server for server in servers if server.process.poll() is None]
    for server in running:
        server.process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_TIMEOUT
    for server in running:
        try:
            server.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def listening_socket() -> socket.socket:
    """A TCP socket on a free loopback port, already listening, to hand to a server."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
    listener.set_inheritable(True)
    return listener


def free_port() -> int:
    """A port nobody listens on right now, for servers that cannot take a socket (nginx)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(server: Server, path: str, timeout: float = START_TIMEOUT) -> None:
    """Poll `path` until the server answers; fail early if its process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.url} exited with code {server.process.returncode}")
        try:
            requests.get(server.url + path, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{server.url} did not come up within {timeout:g} s")


def start_standin(
    latency: float = 0.0,
    token: str = DEFAULT_TOKEN,
    account: str = DEFAULT_ACCOUNT,
    optimizer_key: str = "",
    gateway_token: str = "",
) -> Server:
    """Start the Workers AI stand-in on loopback."""
    options = ["--latency", str(latency), "--optimizer-key", optimizer_key]
    options += ["--gateway-token", gateway_token]
    with listening_socket() as listener:
        command = standin_command(listener, token, account, *options)
        process = subprocess.Popen(command, cwd=ROOT, pass_fds=[listener.fileno()])
        server = Server(process, _url(listener))
    wait_until_up(server, "/_standin/health")
    return server


def start_service(env: dict[str, str], **popen: object) -> Server:
    """Start the service with the Procfile's command, `env` as its whole environment."""
    with listening_socket() as listener:
        # gunicorn reads GUNICORN_CMD_ARGS after gunicorn.conf.py: the bind comes from here.
        env = {**env, "GUNICORN_CMD_ARGS": f"--bind fd://{listener.fileno()}"}
        process = subprocess.Popen(
            procfile_command(),
            cwd=ROOT,
            env=env,
            pass_fds=[listener.fileno()],
            **popen,  # type: ignore[call-overload]  # stdout=, stderr=
        )
        server = Server(process, _url(listener))
    wait_until_up(server, "/healthz")
    return server


def _url(listener: socket.socket) -> str:
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


@dataclass
class RedisServer:
    """A real redis-server on loopback, with an append-only file so a restart loses nothing.

    Redis cannot take a socket it is handed, so it gets a free port; a restart keeps it.
    """

    port: int
    directory: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "always",
            "--save", "", "--loglevel", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = self.client()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"redis-server exited with {self.process.returncode}"
                    ) from None
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Shut Redis down as an operator would (SIGTERM: it writes its file and exits)."""
        if self.process and self.running():
            self.process.terminate()
            self.process.wait(timeout=STOP_TIMEOUT)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)
