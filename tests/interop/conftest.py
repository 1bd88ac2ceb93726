"""The interop tier: real third-party clients, each installed by `make interop` into its own
environment under .interop/, driven against the service over loopback.

The service and the stand-in come from tests/server_fixtures.py, as in the e2e tier. Every
test starts from a clean stand-in and says, through `pictures`, how many pictures its client
showed and how many the stand-in drew; the run ends with that table.
"""

from __future__ import annotations

import pytest

from tests.helpers import Standin
from tests.interop.clients import TALLY, Pictures, Tally


@pytest.fixture(autouse=True)
def _clean_standin(standin: Standin) -> Standin:
    return standin


@pytest.fixture
def pictures(request: pytest.FixtureRequest, standin: Standin) -> Pictures:
    tally = request.config.stash.setdefault(TALLY, Tally())
    return Pictures(tally, standin)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    tally = config.stash.get(TALLY, None)
    if tally and tally.rows:
        terminalreporter.section("pictures: shown by each client, drawn upstream")
        for line in tally.lines():
            terminalreporter.write_line(line)
