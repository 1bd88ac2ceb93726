"""The service's own routes, none needing an API key: the home page, the health check for
load balancers, the metrics for Prometheus, and the API contract."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from flask import Blueprint, Response, request

from .. import metrics
from ..errors import StoreUnavailableError
from .auth import check_metrics_access
from .home import home_page
from .json_response import json_response
from .state import current_state

bp = Blueprint("service", __name__)
OPENAPI_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"


@bp.get("/")
def home() -> Response:
    """The home page: the service is up, what it offers, and a playground to try it."""
    return home_page(current_state())


@bp.get("/openapi.json")
def openapi() -> Response:
    """The API contract, `openapi.yaml`, as JSON."""
    return json_response(_contract())


@bp.get("/healthz")
def healthz() -> Response:
    """Up, and the image store reachable? 200 if so, 503 if not; no key needed. Resting
    Cloudflare accounts are shown, and answer 200: they are no broken instance."""
    state = current_state()
    store = state.store
    accounts = [account.to_dict() for account in state.accounts.states()]
    try:
        store.check()
    except StoreUnavailableError:
        return json_response(
            {"status": "unavailable", "store": store.name, "accounts": accounts}, 503
        )
    return json_response({"status": "ok", "store": store.name, "accounts": accounts})


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    """Counts for Prometheus, summed over every worker: for METRICS_TOKEN's bearer if it is
    set, else for this machine alone."""
    state = current_state()
    settings = state.settings
    check_metrics_access(request.headers, request.remote_addr or "", settings.metrics_token)
    metrics.accounts([account.rest is None for account in state.accounts.states()])
    return Response(
        metrics.exposition(settings.prometheus_multiproc_dir), content_type=metrics.CONTENT_TYPE
    )


@cache
def _contract() -> dict:
    # Imported here: only this route needs PyYAML, and most processes never serve it.
    import yaml  # noqa: PLC0415

    return yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
