"""The end-to-end tier: every test starts from a clean stand-in, whether or not it asks for
one. The fixtures themselves are in tests/server_fixtures.py."""

from __future__ import annotations

import pytest

from tests.helpers import Standin


@pytest.fixture(autouse=True)
def _clean_standin(standin: Standin) -> Standin:
    return standin
