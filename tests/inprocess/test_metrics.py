"""GET /metrics in one process: what each kind of request adds to which metric and label,
the byte counts of the stores, and METRICS_TOKEN.

The default registry lives as long as the test process, so each test counts what its own
requests added: the scrape after, less the scrape before.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from flux_service.stores.base import MemoryStore
from flux_service.stores.file_store import FileStore
from flux_service.web.auth import client_id
from tests.client_requests import CLIENT_TASKS
from tests.helpers import API_KEY, AUTH, Standin
from tests.inprocess.api import Api

DEFAULT_MODEL = "@cf/black-forest-labs/flux-1-schnell"
Samples = dict[tuple[str, frozenset], float]


def scrape(client: FlaskClient, **headers: str) -> Samples:
    """Every sample /metrics shows, by name and labels."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def added(before: Samples, after: Samples) -> dict[tuple[str, frozenset], float]:
    """What the service's own metrics gained between two scrapes, less the scrapes' counts."""
    changes = {key: value - before.get(key, 0.0) for key, value in after.items()}
    return {
        key: change
        for key, change in changes.items()
        if change
        and key[0].startswith("flux_")
        and not key[0].endswith("_created")
        and ("route", "/metrics") not in key[1]
    }


def labels(**pairs: str) -> frozenset:
    return frozenset(pairs.items())


def registry_value(name: str, **pairs: str) -> float:
    return REGISTRY.get_sample_value(name, pairs) or 0.0


def test_requests_count_by_route_pattern_and_status(client: FlaskClient) -> None:
    before = scrape(client)
    assert client.get("/v1/models", headers=AUTH).status_code == 200
    assert client.get("/v1/models/secret-looking-id", headers=AUTH).status_code == 404
    assert client.get("/v1/models").status_code == 401
    assert client.get("/nowhere/at-all").status_code == 404
    assert client.get("/image/AAAAAAAAAAAAAAAAAAAAAAAA").status_code == 404
    assert client.options("/v1/chat/completions").status_code == 204
    assert added(before, scrape(client)) == {
        ("flux_requests_total", labels(route="/v1/models", status="200")): 1,
        ("flux_requests_total", labels(route="/v1/models/<path:model_id>", status="404")): 1,
        ("flux_requests_total", labels(route="/v1/models", status="401")): 1,
        ("flux_requests_total", labels(route="(no route)", status="404")): 1,
        ("flux_requests_total", labels(route="/image/<key>", status="404")): 1,
        ("flux_requests_total", labels(route="/v1/chat/completions", status="204")): 1,
    }


def test_a_generation_counts_its_images_calls_and_bytes(api: Api, client: FlaskClient) -> None:
    before = scrape(client)
    response = api.images(prompt="a red fox", n=2, response_format="b64_json")
    assert response.status_code == 200
    sizes = [len(base64.b64decode(item["b64_json"])) for item in response.get_json()["data"]]
    after = scrape(client)
    change = added(before, after)
    model = labels(model=DEFAULT_MODEL)
    drawn = labels(kind="generation", model=DEFAULT_MODEL, outcome="ok")
    assert change[("flux_images_total", drawn)] == 2
    assert change[("flux_pictures_stored_total", labels(store="memory"))] == 2
    assert change[("flux_pictures_stored_bytes_total", labels(store="memory"))] == sum(sizes)
    assert change[("flux_upstream_seconds_count", model)] == 2
    assert change[("flux_upstream_first_byte_seconds_count", model)] == 2
    first_byte = change[("flux_upstream_first_byte_seconds_sum", model)]
    assert 0 < first_byte <= change[("flux_upstream_seconds_sum", model)]
    # The buckets run from a tenth of a second to a minute.
    bounds = {dict(key[1])["le"] for key in after if key[0] == "flux_upstream_seconds_bucket"}
    assert {"0.1", "60.0", "+Inf"} <= bounds
    assert after[("flux_images_drawing", frozenset())] == 0


def test_a_failed_generation_counts_its_error_code(
    api: Api, client: FlaskClient, standin: Standin
) -> None:
    standin.fail({"kind": "error", "status": 400, "code": 5006, "message": "AiError: Bad input"})
    before = scrape(client)
    response = api.chat("a red fox")
    code = response.get_json()["error"]["code"]
    change = added(before, scrape(client))
    outcome = labels(kind="generation", model=DEFAULT_MODEL, outcome=code)
    assert change[("flux_images_total", outcome)] == 1
    assert ("flux_pictures_stored_total", labels(store="memory")) not in change


def test_an_edit_counts_as_an_edit(api: Api, client: FlaskClient) -> None:
    generated = api.images(prompt="a red fox", response_format="b64_json").get_json()
    picture = base64.b64decode(generated["data"][0]["b64_json"])
    before = scrape(client)
    response = client.post(
        "/v1/images/edits",
        data={"prompt": "make it blue", "image": (io.BytesIO(picture), "fox.jpg")},
        headers=AUTH,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    change = added(before, scrape(client))
    edits = [key for key in change if key[0] == "flux_images_total"]
    assert len(edits) == 1
    assert dict(edits[0][1])["kind"] == "edit"
    assert dict(edits[0][1])["outcome"] == "ok"


def test_client_tasks_count_by_kind_and_draw_nothing(api: Api, client: FlaskClient) -> None:
    _, body, kind, _ = CLIENT_TASKS[0]
    before = scrape(client)
    assert api.post("/v1/chat/completions", body).status_code == 200
    assert api.post("/v1/chat/completions", {**body, "stream": True}).status_code == 200
    change = added(before, scrape(client))
    assert change == {
        ("flux_client_tasks_total", labels(kind=kind)): 2,
        ("flux_requests_total", labels(route="/v1/chat/completions", status="200")): 2,
    }


def test_refusals_for_rate_count_as_rate(make_app: Callable[..., Flask]) -> None:
    client = make_app(RATE_LIMIT="1/minute").test_client()
    api = Api(client)
    before = scrape(client)
    assert api.chat("a red fox").status_code == 200
    assert api.chat("a red fox").status_code == 429
    change = added(before, scrape(client))
    assert change[("flux_refused_total", labels(reason="rate"))] == 1
    assert change[("flux_requests_total", labels(route="/v1/chat/completions", status="429"))] == 1


def test_each_image_counts_its_estimated_cost_by_model_and_a_digest_of_the_key(
    api: Api, app: Flask, client: FlaskClient
) -> None:
    before = scrape(client)
    assert api.images(prompt="a red fox", n=2).status_code == 200
    change = added(before, scrape(client))
    secret = app.extensions["flux"].settings.key_digest_secret
    label = client_id(API_KEY, "", secret)[:12]
    # Keyed with the deployment's secret: someone who guesses the key cannot confirm it.
    assert label != hashlib.sha256(API_KEY.encode()).hexdigest()[:12]
    assert all(label not in name for name in (API_KEY, secret.hex()))
    key = labels(model=DEFAULT_MODEL, key=label)
    # FLUX.1 schnell draws 1024x1024 in 4 steps: 4 tiles x (4.8 + 9.6 x 4) neurons each.
    assert round(change[("flux_neurons_total", key)], 6) == 2 * 172.8
    assert round(change[("flux_dollars_total", key)], 9) == round(2 * 172.8 * 0.011 / 1000, 9)
    assert API_KEY not in client.get("/metrics").get_data(as_text=True)


def test_a_reused_image_counts_as_reused_and_costs_nothing(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    client = make_app(REUSE_IMAGES="true").test_client()
    before = scrape(client)
    for _ in range(2):
        assert Api(client).chat("a red fox").status_code == 200
    change = added(before, scrape(client))
    for outcome in ("ok", "reused"):
        images = labels(kind="generation", model=DEFAULT_MODEL, outcome=outcome)
        assert change[("flux_images_total", images)] == 1
    assert change[("flux_upstream_seconds_count", labels(model=DEFAULT_MODEL))] == 1
    assert len(standin.received()) == 1
    spent = [value for (name, _), value in change.items() if name == "flux_neurons_total"]
    assert [round(value, 6) for value in spent] == [172.8]


def test_refusals_for_budget_count_as_budget(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    client = make_app(DAILY_NEURON_BUDGET="100").test_client()
    before = scrape(client)
    assert Api(client).chat("a red fox").status_code == 429
    change = added(before, scrape(client))
    assert change[("flux_refused_total", labels(reason="budget"))] == 1
    assert standin.received() == []


def test_refusals_for_capacity_count_as_capacity(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    client = make_app(MAX_CONCURRENT_GENERATIONS="1", GENERATION_WAIT="0").test_client()
    standin.configure(latency=0.5)  # the first image holds the one slot while the other asks
    before = scrape(client)
    assert Api(client).images(prompt="a red fox", n=2).status_code == 503
    change = added(before, scrape(client))
    assert change[("flux_refused_total", labels(reason="capacity"))] == 1
    images = labels(kind="generation", model=DEFAULT_MODEL, outcome="server_is_overloaded")
    assert change[("flux_images_total", images)] == 1


def test_the_memory_store_counts_what_leaves_and_why() -> None:
    now = [0.0]
    store = MemoryStore(ttl=10, max_bytes=100, share=60, clock=lambda: now[0])
    counted = {
        reason: registry_value("flux_pictures_evicted_bytes_total", store="memory", reason=reason)
        for reason in ("expired", "full", "share")
    }
    store.put(b"a" * 40, "image/jpeg", "one")
    store.put(b"b" * 40, "image/jpeg", "one")  # over one's share of 60: its first goes
    store.put(b"c" * 50, "image/jpeg", "two")
    store.put(b"d" * 30, "image/jpeg", "three")  # over the 100 in all: the oldest goes
    now[0] = 11
    store.put(b"e" * 10, "image/jpeg", "three")  # everything before has expired
    gone = {
        reason: registry_value("flux_pictures_evicted_bytes_total", store="memory", reason=reason)
        - counted[reason]
        for reason in counted
    }
    assert gone == {"share": 40, "full": 40, "expired": 80}


def test_the_disk_store_counts_what_leaves_and_why(tmp_path: Path) -> None:
    now = [1000.0]
    store = FileStore(tmp_path, ttl=10, max_bytes=1 << 20, clock=lambda: now[0], sweep_every=0)
    before = registry_value("flux_pictures_evicted_total", store="file", reason="expired")
    key = store.put(b"x" * 100, "image/jpeg", "")
    now[0] += 11
    assert store.get(key) is None  # expired: deleted as it is asked for
    assert store.get(key) is None  # and counted once
    after = registry_value("flux_pictures_evicted_total", store="file", reason="expired")
    assert after - before == 1


def test_metrics_need_the_token_when_one_is_set(make_app: Callable[..., Flask]) -> None:
    token = "metrics-token-1234567890"
    client = make_app(METRICS_TOKEN=token).test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, AUTH, {"X-Api-Key": token}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.get_json()["error"] == {
            "message": "The metrics need the METRICS_TOKEN: send it as "
            "`Authorization: Bearer <token>`.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_metrics_token",
        }
    bearer = {"Authorization": f"Bearer {token}"}
    page = client.get("/metrics", headers=bearer)
    assert page.status_code == 200
    afar = client.get("/metrics", headers=bearer, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert afar.status_code == 200  # with the token, from anywhere
    text = page.get_data(as_text=True)
    assert "flux_requests_total" in text
    assert token not in text
    assert API_KEY not in text


def test_without_a_token_the_metrics_are_this_machines_alone(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    for peer, headers in [
        ("203.0.113.9", {}),  # straight from the internet
        ("10.0.0.7", {}),  # a private network is not this machine: a load balancer may be
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}),  # through a proxy on this machine
        ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}),
        ("127.0.0.1", {"X-Real-IP": "203.0.113.9"}),
    ]:
        refused = client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": peer})
        assert refused.status_code == 403, (peer, headers)
        error = refused.get_json()["error"]
        assert error["code"] == "metrics_not_public"
        assert "METRICS_TOKEN" in error["message"]


def test_metrics_are_read_while_images_are_drawn(
    api: Api, client: FlaskClient, standin: Standin
) -> None:
    standin.configure(latency=0.5)
    drawing = threading.Thread(target=api.chat, args=("a red fox",))
    drawing.start()
    try:
        seen = 0.0
        # As long as the draw lasts, however long each scrape takes on a busy machine.
        while not seen and drawing.is_alive():
            seen = max(seen, scrape(client)[("flux_images_drawing", frozenset())])
            time.sleep(0.02)
    finally:
        drawing.join()
    assert seen == 1
    assert scrape(client)[("flux_images_drawing", frozenset())] == 0
