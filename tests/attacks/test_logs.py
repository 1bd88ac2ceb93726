"""Logs an anonymous client can flood, and lines that are not JSON.

Before: each unknown image key wrote a line (2,000 fetches, 2,000 lines; about 4,900 a second
from one client, 3 GB an hour); gunicorn's warnings were plain text among the JSON lines.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable

import pytest
import requests

from tests.e2e.service import Service

from .conftest import connections


@pytest.mark.untimed  # the bound grows with the time taken
def test_repeated_misses_are_summed_up_not_each_written(
    make_service: Callable[..., Service],
) -> None:
    service = make_service(label="misses")
    session = requests.Session()
    started = time.monotonic()
    for _ in range(2000):
        session.get(f"{service.url}/image/{'A' * 32}", timeout=5)
    seconds = time.monotonic() - started
    time.sleep(1.2)  # the last second's count is written at its end
    lines = [json.loads(line) for line in service.log().splitlines() if line.startswith("{")]
    written = [line for line in lines if line.get("route") == "/image/<key>"]
    counted = [line["count"] for line in lines if line["message"].startswith("refusals not")]
    assert len(written) + len(counted) <= 2 * (seconds + 2), (
        f"{len(lines)} lines in {seconds:.1f} s"
    )
    assert len(written) + sum(counted) == 2000  # nothing hidden: the log says how many there were


def test_misses_at_once_never_freeze_the_worker(make_service: Callable[..., Service]) -> None:
    # Before: with a few misses in flight, the count's timer was started under a real
    # (unpatched) lock, the next miss blocked on it, and the worker froze for good: wrk
    # got 1 answer in 3 s and /healthz none.
    service = make_service(label="misses-at-once")
    url = f"{service.url}/image/{'B' * 32}"
    out = subprocess.run(
        ["wrk", "-t2", "-c16", "-d2s", url], capture_output=True, text=True, check=True
    ).stdout
    answered = int(re.search(r"(\d+) requests in", out)[1])
    assert answered > 500, out
    assert requests.get(f"{service.url}/healthz", timeout=2).status_code == 200


@pytest.mark.untimed  # it reads the log, at any speed
def test_every_line_is_json_gunicorns_own_too(make_service: Callable[..., Service]) -> None:
    service = make_service(label="json-lines")
    with connections(service.url, 1, b"NONSENSE\r\n\r\n") as (sock,):
        sock.recv(4096)
    requests.get(f"{service.url}/healthz", timeout=5)
    lines = [line for line in service.log().splitlines() if line.strip()]
    assert any("Invalid request" in line for line in lines)
    for line in lines:
        json.loads(line)
