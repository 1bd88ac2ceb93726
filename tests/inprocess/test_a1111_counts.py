"""The AUTOMATIC1111 door is counted like every other: RATE_LIMIT's images and refusals, the
day's neuron budgets, reused pictures, the metrics and the request log line."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from flask import Flask

from tests.helpers import API_KEY, Standin
from tests.inprocess.test_a1111 import Sd, refused
from tests.inprocess.test_metrics import added, labels, scrape
from tests.inprocess.test_spending import SCHNELL, with_clock

PROMPT = "a paper boat on a puddle"
DEFAULT_MODEL = "@cf/black-forest-labs/flux-1-schnell"


def test_rate_limits_count_every_picture_of_a_batch(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    sd = Sd(make_app(RATE_LIMIT="3/minute").test_client())
    sd.draw(prompt=PROMPT, batch_size=2)
    error = refused(sd.post("txt2img", {"prompt": PROMPT, "batch_size": 2}), 429)
    assert "RATE_LIMIT" in error["detail"]
    assert len(standin.received()) == 2  # the two that would not fit were never drawn
    sd.draw(prompt=PROMPT)


def test_a_client_refused_too_often_waits_before_any_a1111_route(
    make_app: Callable[..., Flask],
) -> None:
    sd = Sd(make_app(RATE_LIMIT="1/minute").test_client())
    for _ in range(10):  # ten times RATE_LIMIT of bad requests
        refused(sd.post("txt2img", {"prompt": ""}), 400)
    response = sd.get("options")
    refused(response, 429)
    assert int(response.headers["Retry-After"]) > 0


def test_the_days_budget_refuses_before_anything_is_drawn(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    api, _ = with_clock(make_app(DAILY_NEURON_BUDGET="400"))
    sd = Sd(api.client)
    sd.draw(prompt=PROMPT, batch_size=2)  # two of 172.8 neurons
    response = sd.post("txt2img", {"prompt": PROMPT})
    error = refused(response, 429)
    assert error["error"] == "BudgetSpentError"
    assert response.headers["Retry-After"] == str(90 * 60)  # until 00:00 UTC
    assert len(standin.received()) == 2


def test_a_repeated_request_with_a_seed_is_answered_from_the_store(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    sd = Sd(make_app(REUSE_IMAGES="true").test_client())
    klein = {"sd_model_checkpoint": "flux-2-klein-4b"}
    body = {"prompt": PROMPT, "seed": 5, "width": 512, "height": 512, "override_settings": klein}
    first, second = sd.draw(**body), sd.draw(**body)
    assert len(standin.received()) == 1
    assert first["images"] == second["images"]
    assert "Reused" not in first["info"]["extra_generation_params"]
    assert second["info"]["extra_generation_params"]["Reused"] == [True]
    # Another guidance is another picture; a random seed (A1111's -1) always draws anew.
    sd.draw(**{**body, "cfg_scale": 3})
    sd.draw(**{**body, "seed": -1})
    sd.draw(**{**body, "seed": -1})
    assert len(standin.received()) == 4


def test_a1111_requests_and_pictures_are_counted_by_route(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app().test_client()
    sd = Sd(client)
    before = scrape(client)
    sd.draw(prompt=PROMPT, batch_size=2)
    sd.get("options")
    refused(sd.post("txt2img", {"prompt": PROMPT, "width": 100000}), 400)
    refused(client.get("/sdapi/v1/png-info"), 404)
    change = added(before, scrape(client))
    assert change[("flux_requests_total", labels(route="/sdapi/v1/txt2img", status="200"))] == 1
    assert change[("flux_requests_total", labels(route="/sdapi/v1/txt2img", status="400"))] == 1
    assert change[("flux_requests_total", labels(route="/sdapi/v1/options", status="200"))] == 1
    unknown = labels(route="/sdapi/v1/<path:rest>", status="404")
    assert change[("flux_requests_total", unknown)] == 1
    drawn = labels(kind="generation", model=DEFAULT_MODEL, outcome="ok")
    assert change[("flux_images_total", drawn)] == 2
    assert change[("flux_pictures_stored_total", labels(store="memory"))] == 2


def test_the_log_line_has_the_model_cost_and_a_digest_of_the_key(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    sd = Sd(make_app().test_client())
    capsys.readouterr()
    sd.draw(prompt=PROMPT, batch_size=2)
    logged = capsys.readouterr().err
    (line,) = [json.loads(line) for line in logged.splitlines() if "/sdapi/v1/txt2img" in line]
    assert (line["method"], line["status"], line["model"]) == ("POST", 200, DEFAULT_MODEL)
    assert line["neurons"] == pytest.approx(2 * SCHNELL)
    assert line["key_neurons_today"] == pytest.approx(2 * SCHNELL)
    assert re.fullmatch("[0-9a-f]{12}", line["key"])
    assert API_KEY not in logged
