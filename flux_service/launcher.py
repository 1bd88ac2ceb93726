"""`make run`: serve exactly as the Procfile does, with the stand-in beside it when needed.

With Cloudflare credentials it becomes gunicorn and serves for real; without them it starts
the local Workers AI stand-in, points the service at it (demo mode), and ends with
gunicorn's exit status, so a bad setting is a failed `make run`.
"""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

from config import DEFAULT_PORT, read_environment

from .standin import DEFAULT_ACCOUNT, DEFAULT_TOKEN

ROOT = Path(__file__).resolve().parent.parent


def procfile_command(procfile: Path = ROOT / "Procfile") -> list[str]:
    """The `web:` command of the Procfile, with programs taken from this virtualenv."""
    for line in procfile.read_text().splitlines():
        kind, _, command = line.partition(":")
        if kind.strip() == "web":
            argv = shlex.split(command)
            local = Path(sys.executable).parent / argv[0]
            return [str(local) if local.exists() else argv[0], *argv[1:]]
    raise RuntimeError(f"{procfile} has no web: line")


def standin_command(listener: socket.socket, token: str, account: str, *options: str) -> list[str]:
    """The command that runs the stand-in on `listener`, an open socket it inherits, as the
    Cloudflare `account` with `token` (and any more accounts `options` name)."""
    # `--token=…`, not `--token …`: a random token may begin with "-", which would read as
    # an option and stop the stand-in at its start.
    return [
        sys.executable, "-m", "flux_service.standin", f"--fd={listener.fileno()}",
        f"--token={token}", f"--account={account}", *options,
    ]  # fmt: skip


def standin_env(url: str, token: str = DEFAULT_TOKEN, account: str = DEFAULT_ACCOUNT) -> dict:
    """The settings that point the service at a stand-in listening at `url`."""
    return {"CF_API_BASE": f"{url}/client/v4", "CF_ACCOUNT_ID": account, "CF_API_TOKEN": token}


def main() -> int:
    """Serve for real with Cloudflare credentials (CF_ACCOUNTS, or CF_ACCOUNT_ID and
    CF_API_TOKEN), or the demo without them."""
    env = read_environment()
    command = procfile_command()
    if env.get("CF_ACCOUNTS") or (env.get("CF_ACCOUNT_ID") and env.get("CF_API_TOKEN")):
        os.execvpe(command[0], command, env)
    token, account = secrets.token_urlsafe(16), "demo"
    key = env.get("API_KEY") or "sk-demo-" + secrets.token_urlsafe(12)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        standin = subprocess.Popen(
            standin_command(listener, token, account), pass_fds=[listener.fileno()], cwd=ROOT
        )
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    port = env.get("PORT") or DEFAULT_PORT
    banner = "=" * 72
    print(
        f"{banner}\n DEMO MODE: no Cloudflare credentials are set, so images come from a\n"
        f" local Workers AI stand-in, not from a real model.\n"
        f" Set CF_ACCOUNT_ID and CF_API_TOKEN (in .env) to serve real images.\n\n"
        f" URL:     http://localhost:{port}/v1\n API key: {key}\n{banner}",
        flush=True,
    )
    demo = {**env, **standin_env(url, token, account), "DEMO_MODE": "true", "API_KEY": key}
    service = subprocess.Popen(command, cwd=ROOT, env=demo)
    # A stop signal may reach this process alone (`docker stop` sends SIGTERM to a container's
    # first process, `docker run` passes Ctrl-C on as SIGINT), and as a container's first
    # process it would not even end this one. Hand it to gunicorn, which stops as asked
    # (SIGTERM lets what it is drawing finish), and stop the stand-in once gunicorn is gone.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda number, _frame: service.send_signal(number))
    try:
        return service.wait()
    finally:
        standin.terminate()
        standin.wait()


if __name__ == "__main__":
    sys.exit(main())
