"""Flux API: an OpenAI-compatible image generation service over Cloudflare Workers AI."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from config import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> Flask:
    """Build the service from `settings` (default: the environment and `.env`)."""
    # Imported on call, not with the package: gunicorn's master reads the settings (and so
    # this package) before its gevent worker patches the standard library, and requests and
    # ssl must be first imported after that patch.
    from .factory import create_app as build

    return build(settings)
