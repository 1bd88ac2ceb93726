"""The service's state: the settings and what was built from them, one object per app.

`create_app` builds it once and keeps it in `app.extensions["flux"]`; views, the key check,
the home page and the health check read it through `current_state()`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from config import Settings

from ..generation.fetch import ImageFetcher
from ..generation.pipeline import Pipeline
from ..generation.plan import Planner
from ..generation.spending import Spending
from ..stores.base import ImageStore
from ..upstream.accounts import AccountPool
from ..upstream.catalog import ServedModels
from .byte_budget import ByteBudget
from .forwarded import Proxies
from .ratelimit import RateLimits


@dataclass(frozen=True, kw_only=True)
class State:
    """Everything a request may need besides the request itself."""

    settings: Settings
    models: ServedModels
    store: ImageStore
    planner: Planner  # an order made a plan, before anything is drawn
    pipeline: Pipeline  # a plan run
    limits: RateLimits | None  # None without RATE_LIMIT
    proxies: Proxies  # FORWARDED_ALLOW_IPS
    unsent: ByteBudget  # MAX_UNSENT_BYTES: large answers waiting for their client
    bodies: ByteBudget  # MAX_BODY_MEMORY: large request bodies being read and used
    fetcher: ImageFetcher | None  # None: FETCH_IMAGE_URLS is off
    spending: Spending  # the day's estimated spend and DAILY_NEURON_BUDGET(_PER_KEY)
    accounts: AccountPool  # the Cloudflare accounts and which of them rest


def current_state() -> State:
    """The state of the app handling the current request."""
    state: State = current_app.extensions["flux"]
    return state
