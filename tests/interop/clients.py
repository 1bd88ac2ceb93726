"""What the interop tests share: where the clients are installed, running them and their
servers, counting the pictures they show, and reading docs/clients.md's copies of their
settings."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.helpers import Standin
from tests.pictures import difference, recorded, thumbnail
from tests.servers import ROOT, Server, free_port, stop_all

INTEROP = ROOT / ".interop"
HERE = Path(__file__).resolve().parent
# Third-party servers import a lot before they listen: the LiteLLM proxy takes most of a minute.
START_TIMEOUT = 180.0
# Where a run keeps its count of pictures, for the table it ends with.
TALLY = pytest.StashKey["Tally"]()


@dataclass
class Tally:
    """Pictures each client showed, and pictures the stand-in drew for them."""

    rows: dict[str, list[int]] = field(default_factory=dict)

    def add(self, client: str, shown: int, drawn: int) -> None:
        row = self.rows.setdefault(client, [0, 0])
        row[0] += shown
        row[1] += drawn

    def lines(self) -> list[str]:
        width = max(len(client) for client in self.rows)
        head = f"{'client':<{width}}  shown  drawn upstream"
        body = [f"{client:<{width}}  {s:>5}  {d:>5}" for client, (s, d) in self.rows.items()]
        return [head, *body]


@dataclass
class Pictures:
    """One test's count: `pictures.shown(client, n)` once its client has shown n pictures."""

    tally: Tally
    standin: Standin

    def shown(self, client: str, count: int) -> int:
        """Record `count` pictures shown by `client`; give back how many were drawn upstream."""
        drawn = len(self.standin.received())
        self.tally.add(client, count, drawn)
        print(f"{client}: {count} shown, {drawn} drawn upstream")
        return drawn


def program(env: str, name: str) -> Path:
    """A program installed in one of the .interop environments."""
    path = INTEROP / env / "bin" / name
    if not path.exists():
        pytest.fail(f"{path} is missing: `make interop` installs it")
    return path


def clean_env(**settings: str) -> dict[str, str]:
    """A child's environment: PATH, HOME and locale from ours, no proxies, and `settings`."""
    keep = ("PATH", "HOME", "LANG", "SSL_CERT_FILE", "TMPDIR")
    return {**{name: os.environ[name] for name in keep if name in os.environ}, **settings}


def run_program(command: list[str | Path], timeout: float = 60, **options: object) -> str:
    """Run a client to the end; its standard output, or a failure showing what it said."""
    done = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **options,  # type: ignore[call-overload]  # env=, cwd=
    )
    assert done.returncode == 0, f"{command[0]} exited {done.returncode}:\n{done.stderr[-4000:]}"
    return done.stdout


@dataclass
class ThirdPartyServer:
    """A client's own server (LiteLLM's proxy, Open WebUI) on a free loopback port."""

    server: Server
    log_path: Path

    @property
    def url(self) -> str:
        return self.server.url

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def serve(
    command: list[str | Path], env: dict[str, str], health: str, log_path: Path
) -> Iterator[ThirdPartyServer]:
    """Start a server that takes `{port}` in its command; stop it when the block ends.

    These servers cannot take a socket handed to them, so each gets a free port.
    """
    port = free_port()
    argv = [str(part).format(port=port) for part in command]
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, env=env, cwd=log_path.parent, stdout=log, stderr=log)
    running = ThirdPartyServer(Server(process, f"http://127.0.0.1:{port}"), log_path)
    try:
        _wait_for(running, health)
        yield running
    finally:
        stop_all([running.server])


def _wait_for(running: ThirdPartyServer, health: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if running.server.process.poll() is not None:
            pytest.fail(f"{running.url} exited early:\n{running.log()[-4000:]}")
        try:
            if requests.get(running.url + health, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    pytest.fail(
        f"{running.url} did not come up within {START_TIMEOUT:g} s:\n{running.log()[-4000:]}"
    )


def clients_page_block(heading: str, language: str) -> str:
    """The first `language` code block under `heading` in docs/clients.md."""
    section = (ROOT / "docs" / "clients.md").read_text().split(f"\n{heading}\n", 1)[1]
    return section.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def assert_drew_from(standin: Standin, *sent: Image.Image) -> None:
    """The one picture drawn upstream was drawn from these pictures, in this order."""
    (drawn,) = standin.received()
    assert len(drawn["images"]) == len(sent)
    for got, image in zip(drawn["images"], sent, strict=True):
        assert difference(recorded(got), thumbnail(image)) < 4
