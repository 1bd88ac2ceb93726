"""The Workers AI client on its own, against the stand-in in process: its two ways of trying
again (without a refused field; after a passing failure) and when it stops. In process a slow
answer fails as a timeout once it has come; one cut off at its timeout needs a socket: that
is in the e2e tier."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import requests

from flux_service.errors import InvalidRequestError, UpstreamError, UpstreamTimeoutError
from flux_service.upstream import workers_ai
from flux_service.upstream.catalog import CATALOG
from flux_service.upstream.workers_ai import WorkersAIClient
from tests.helpers import Standin, decode
from tests.inprocess.api import settings_with

KLEIN = CATALOG["@cf/black-forest-labs/flux-2-klein-4b"]
INPUTS = {"prompt": "a fox", "width": 256, "height": 256, "seed": 3}


def client(session: requests.Session, timeout: str = "10", budget: str = "20") -> WorkersAIClient:
    settings = settings_with(UPSTREAM_TIMEOUT=timeout, UPSTREAM_RETRY_BUDGET=budget)
    return WorkersAIClient(settings, session)


def test_a_refused_field_is_left_out_at_once_and_from_then_on(
    session: requests.Session, standin: Standin
) -> None:
    standin.refuse(KLEIN.id, "seed")
    workers_ai = client(session)
    drawing = workers_ai.run(KLEIN, dict(INPUTS))
    assert drawing.seed is None  # the model never got one
    workers_ai.run(KLEIN, dict(INPUTS))
    sent = [set(entry["inputs"]) for entry in standin.received()]
    assert sent == [set(INPUTS), set(INPUTS) - {"seed"}, set(INPUTS) - {"seed"}]


def test_a_refused_prompt_is_never_left_out(session: requests.Session, standin: Standin) -> None:
    standin.refuse(KLEIN.id, "prompt")
    with pytest.raises(InvalidRequestError, match="prompt"):
        client(session).run(KLEIN, dict(INPUTS))
    assert len(standin.received()) == 1


def test_a_passing_failure_is_tried_again_until_the_deadline(
    session: requests.Session, standin: Standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each pause is an eighth of the most it may be (RETRY_BASE * 2**n), not a random part of
    # it: tries at 0, 0.06, 0.19 and 0.44 s, and the next pause (0.5 s) would end past the
    # 0.75 s deadline, so the failure is final.
    monkeypatch.setattr(workers_ai, "random", SimpleNamespace(uniform=lambda _, most: most / 8))
    standin.fail(*[{"kind": "error", "status": 500, "code": 3043}] * 50)
    started = time.monotonic()
    with pytest.raises(UpstreamError, match="HTTP 500"):
        client(session, timeout="0.75").run(KLEIN, dict(INPUTS))
    assert time.monotonic() - started < 0.75  # within the deadline
    assert 1 < len(standin.received()) < 50


def test_a_try_again_that_the_deadline_cuts_short_reports_the_failure_before_it(
    session: requests.Session, standin: Standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 503 after 0.3 s, a pause to 0.15 s before the 1 s deadline, and a second try as slow:
    # the answer names the 503 that was tried again, not a timeout the pause brought about.
    monkeypatch.setattr(workers_ai, "random", SimpleNamespace(uniform=lambda *_: 0.55))
    standin.fail({"kind": "error", "status": 503, "code": 3040})
    standin.configure(latency=0.3)
    started = time.monotonic()
    with pytest.raises(UpstreamError) as failed:
        client(session, timeout="1").run(KLEIN, dict(INPUTS))
    assert time.monotonic() - started >= 0.85  # it paused and tried again
    assert not isinstance(failed.value, UpstreamTimeoutError)
    assert "HTTP 503" in failed.value.message or "capacity" in failed.value.message


def test_a_persistent_failure_is_tried_again_only_for_the_retry_budget(
    session: requests.Session, standin: Standin
) -> None:
    standin.fail(*[{"kind": "error", "status": 500, "code": 3043}] * 50)
    started = time.monotonic()
    with pytest.raises(UpstreamError, match="HTTP 500"):
        client(session, timeout="10", budget="0.4").run(KLEIN, dict(INPUTS))
    # The budget (0.4 s) and the last try, not the 10 s timeout; with room for a busy machine.
    assert time.monotonic() - started < 2
    assert 1 <= len(standin.received()) < 50


def test_no_retry_budget_means_one_try(session: requests.Session, standin: Standin) -> None:
    standin.fail(*[{"kind": "error", "status": 503, "code": 3043}] * 5)
    with pytest.raises(UpstreamError, match="HTTP 503"):
        client(session, budget="0").run(KLEIN, dict(INPUTS))
    assert len(standin.received()) == 1


def test_a_slow_call_has_the_whole_timeout_whatever_the_budget(
    session: requests.Session, standin: Standin
) -> None:
    standin.configure(latency=0.3)
    drawing = client(session, timeout="5", budget="0.05").run(KLEIN, dict(INPUTS))
    assert decode(drawing.data).size == (256, 256)
    assert len(standin.received()) == 1
