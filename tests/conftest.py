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

Shared out over xdist's workers (`-n`), the files whose tests took longest start first: a
pass ends when its last worker does, and a long test started last keeps one worker busy while
the others wait. So each session keeps what each test took (setup, call and teardown) in
pytest's cache, and the next distributed one orders the files by it. A test never timed here
(a fresh clone) counts as 30 s if it is `slow`, 1 s if not. Within a file, and between files
that took as long, pytest-randomly's shuffle stands.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

# The fixtures that start real servers, for the e2e and attacks tiers.
pytest_plugins = ["tests.server_fixtures"]

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "inprocess", "e2e", "attacks", "interop", "container")

DURATIONS = "flux/durations"  # the cache's key
SLOW_GUESS = 30.0  # seconds, for a `slow` test never timed here
OTHER_GUESS = 1.0

# What this session's tests took, by node id (on xdist's controller, every worker's).
_took: Counter[str] = Counter()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = item.path.relative_to(TESTS).parts[0]
        if tier in TIERS:
            item.add_marker(tier)
    if hasattr(config, "workerinput"):  # alone, one process runs all: the order changes nothing
        _longest_files_first(items, _recorded(config))


def _longest_files_first(items: list[pytest.Item], recorded: dict[str, float]) -> None:
    """A stable sort, so that the shuffle holds within each file and between files that
    took as long. Every worker is given the same record, so all order alike, as xdist
    requires; with `--dist loadfile --no-loadscope-reorder` it hands out files in this order."""

    def took(item: pytest.Item) -> float:
        if item.nodeid in recorded:
            return recorded[item.nodeid]
        return SLOW_GUESS if item.get_closest_marker("slow") else OTHER_GUESS

    per_file: Counter[str] = Counter()
    for item in items:
        per_file[_file(item.nodeid)] += took(item)
    items.sort(key=lambda item: -per_file[_file(item.nodeid)])


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _recorded(config: pytest.Config) -> dict[str, float]:
    """What the tests took in earlier sessions. A worker has the controller's copy: a session
    finishing meanwhile cannot give two workers different orders."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return workerinput.get(DURATIONS, {})
    cache = getattr(config, "cache", None)  # None with -p no:cacheprovider
    return cache.get(DURATIONS, {}) if cache is not None else {}


@pytest.hookimpl(optionalhook=True)  # an xdist hook, on the controller
def pytest_configure_node(node: Any) -> None:
    node.workerinput[DURATIONS] = _recorded(node.config)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _took[report.nodeid] += report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Keep what the tests took (on xdist's controller, or alone), over what was kept."""
    cache = getattr(session.config, "cache", None)
    if cache is not None and _took and not hasattr(session.config, "workerinput"):
        cache.set(DURATIONS, {**cache.get(DURATIONS, {}), **_took})
