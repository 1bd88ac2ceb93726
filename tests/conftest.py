"""Each test is marked with its tier, from the folder it lives in:

    tests/unit/       unit       pure functions: no app, no sockets
    tests/inprocess/  inprocess  the app from create_app, Flask's test client, and the
                                 Workers AI stand-in answering in the same process
    tests/e2e/        e2e        gunicorn and the stand-in as real processes over loopback
    tests/attacks/    attacks    what a hostile client does, bounded, on loopback only
    tests/interop/    interop    real third-party clients (make interop), not in make test
    tests/container/  container  the Dockerfile and compose files, built and run with podman
                                 (make container-test), not in make test

and, where a test says so, `browser` (drives Chromium) and `slow` (over a few seconds on
its own). `pytest -m "unit or inprocess"` is the fast lane; see docs/development.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# The fixtures that start real servers, for the e2e and attacks tiers.
pytest_plugins = ["tests.server_fixtures"]

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "inprocess", "e2e", "attacks", "interop", "container")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = item.path.relative_to(TESTS).parts[0]
        if tier in TIERS:
            item.add_marker(tier)
