"""Zip bombs: a megabyte that decodes to a gibibyte, four at once, while a client checks health.

They are refused with 413 once the decoded body passes MAX_BODY_BYTES, and the health checks
stay quick meanwhile: the test times the service, so it runs with the other timed attacks,
alone.
"""

from __future__ import annotations

import threading
import time

import requests

from tests.e2e.service import Service
from tests.helpers import GZIP_JSON, Standin, gzip_bomb


def test_zip_bombs_are_413s_and_health_stays_quick_meanwhile(
    service: Service, standin: Standin
) -> None:
    bomb = gzip_bomb(1024)  # 1 GiB of zeros in 1 MB
    statuses: list[int] = []
    messages: list[str] = []

    def send() -> None:
        response = requests.post(
            f"{service.url}/v1/images/generations", data=bomb, headers=GZIP_JSON, timeout=30
        )
        statuses.append(response.status_code)
        messages.append(response.json()["error"]["message"])

    senders = [threading.Thread(target=send) for _ in range(4)]
    for sender in senders:
        sender.start()
    probes = []
    while any(sender.is_alive() for sender in senders):
        started = time.monotonic()
        assert requests.get(f"{service.url}/healthz", timeout=10).status_code == 200
        probes.append(time.monotonic() - started)
    for sender in senders:
        sender.join()
    assert statuses == [413] * 4
    assert set(messages) == {
        "The request body, decoded, is larger than this server takes (MAX_BODY_BYTES, 50 MiB)."
    }
    assert max(probes) < 0.25, probes
    assert standin.received() == []
