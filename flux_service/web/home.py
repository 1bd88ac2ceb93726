"""The home page: the service is up, what it offers, and a playground to try it."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, render_template

from ..generation.prompt import MAX_SIDE, MIN_SIDE, RATIO_SIZES
from ..wire.translations import kept_for
from .state import State

# The page runs only its own files: no inline code, nothing from elsewhere. `{images}` adds
# where the images are when it is not this origin: PUBLIC_BASE_URL's, and a public bucket's
# (IMAGE_PUBLIC_BASE_URL), which answers link to instead.
HOME_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:{images}; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def home_page(state: State) -> Response:
    """The page, showing only what is safe to show: never the settings themselves, and of
    the day's spending only the whole service's."""
    settings = state.settings
    page = render_template(
        "home.html",
        models=state.models.offered,
        default_model=settings.flux_model,
        optimization=settings.prompt_optimization,
        store=state.store.name,
        expiration=settings.image_expiration,
        kept_for=kept_for(settings.image_expiration),
        ratios=RATIO_SIZES,
        sides=(MIN_SIDE, MAX_SIDE),
        demo=settings.demo_mode,
        today=state.spending.today(),
    )
    elsewhere = (settings.public_base_url, settings.image_public_base_url)
    images = "".join(dict.fromkeys(f" {origin(url)}" for url in elsewhere if url))
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = HOME_CSP.format(images=images)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def origin(url: str) -> str:
    """The scheme and host of `url`, without any user or password it may carry."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
