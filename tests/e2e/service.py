"""A running service as the e2e tests see it: its address, its log, and SDK clients for it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from tests.helpers import API_KEY
from tests.servers import Server

if TYPE_CHECKING:
    import openai


@dataclass
class Service:
    """A running service and the log file its process writes."""

    server: Server
    log_path: Path
    clients: dict[str, openai.OpenAI] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_healthy(self, timeout: float = 10) -> None:
        """Poll /healthz until it answers 200, as a load balancer would."""
        deadline = time.monotonic() + timeout
        while requests.get(f"{self.url}/healthz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, f"{self.url} stayed unhealthy for {timeout:g} s"
            time.sleep(0.1)

    def client(self, key: str = API_KEY) -> openai.OpenAI:
        """The official OpenAI SDK pointed at this service, without retries."""
        # Imported here: it takes a second, and the fast lane loads this module without using it.
        import openai  # noqa: PLC0415

        if key not in self.clients:
            self.clients[key] = openai.OpenAI(base_url=f"{self.url}/v1", api_key=key, max_retries=0)
        return self.clients[key]
