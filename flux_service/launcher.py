"""Start the service exactly as the Procfile does, with the stand-in beside it when needed.

`make run` calls `main()`: with Cloudflare credentials it serves for real; without, it
starts the local Workers AI stand-in and points the service at it (demo mode). The tests
and the benchmarks start their servers through the same functions.
"""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from config import read_environment

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0


@dataclass
class Server:
    """A server process we started, and where it listens."""

    process: subprocess.Popen
    url: str

    def stop(self) -> None:
        """Stop the process at once (gunicorn's quick shutdown), killing it if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def procfile_command(procfile: Path = ROOT / "Procfile") -> list[str]:
    """The `web:` command of the Procfile, with programs taken from this virtualenv."""
    for line in procfile.read_text().splitlines():
        kind, _, command = line.partition(":")
        if kind.strip() == "web":
            argv = shlex.split(command)
            local = Path(sys.executable).parent / argv[0]
            return [str(local) if local.exists() else argv[0], *argv[1:]]
    raise RuntimeError(f"{procfile} has no web: line")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
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
    port: int | None = None,
    latency: float = 0.0,
    token: str = "standin-token",
    account: str = "standin-account",
    optimizer_key: str = "",
    gateway_token: str = "",
) -> Server:
    """Start the Workers AI stand-in on loopback."""
    port = port or free_port()
    command = [
        sys.executable, "-m", "flux_service.standin", "--port", str(port),
        "--latency", str(latency), "--token", token, "--account", account,
        "--optimizer-key", optimizer_key, "--gateway-token", gateway_token,
    ]  # fmt: skip
    server = Server(subprocess.Popen(command, cwd=ROOT), f"http://127.0.0.1:{port}")
    wait_until_up(server, "/_standin/health")
    return server


def start_service(env: dict[str, str], port: int | None = None, **popen: object) -> Server:
    """Start the service with the Procfile's command, `env` as its whole environment."""
    port = port or free_port()
    env = {**env, "PORT": str(port)}
    process = subprocess.Popen(procfile_command(), cwd=ROOT, env=env, **popen)  # type: ignore[call-overload]
    server = Server(process, f"http://127.0.0.1:{port}")
    wait_until_up(server, "/")
    return server


def standin_env(standin: Server, token: str = "standin-token", account: str = "standin-account"):
    """The settings that point the service at `standin`."""
    return {
        "CF_API_BASE": f"{standin.url}/client/v4",
        "CF_ACCOUNT_ID": account,
        "CF_API_TOKEN": token,
    }


def main() -> None:
    """`make run`: serve for real with Cloudflare credentials, or the demo without them."""
    env = read_environment()
    if env.get("CF_ACCOUNT_ID") and env.get("CF_API_TOKEN"):
        os.execvpe(procfile_command()[0], procfile_command(), env)
    token = secrets.token_urlsafe(16)
    standin = start_standin(token=token, account="demo")
    key = env.get("API_KEY") or "sk-demo-" + secrets.token_urlsafe(12)
    port = env.get("PORT") or "8000"
    banner = "=" * 72
    print(
        f"{banner}\n DEMO MODE: no Cloudflare credentials are set, so pictures come from a\n"
        f" local Workers AI stand-in, not from a real model.\n"
        f" Set CF_ACCOUNT_ID and CF_API_TOKEN (in .env) to serve real pictures.\n\n"
        f" URL:     http://localhost:{port}/v1\n API key: {key}\n{banner}",
        flush=True,
    )
    demo = {**env, **standin_env(standin, token, "demo"), "DEMO_MODE": "true", "API_KEY": key}
    try:
        subprocess.run(procfile_command(), cwd=ROOT, env=demo, check=False)
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
