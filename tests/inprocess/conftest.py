"""Fixtures for the in-process tier, the way flaskr tests: a fresh app for every test, built by
`create_app(settings, session)`, and Flask's test client for it.

The app's upstream session reaches the Workers AI stand-in through `WSGITransport`, so the
real client code runs (retries, envelopes, errors) without a socket anywhere. As in the e2e
tier, one stand-in serves a whole session, reset for each test that reaches it: building a
Flask app costs milliseconds (werkzeug compiles each route), and a thousand tests add up.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from flux_service import standin as standin_package
from flux_service.web.factory import create_app
from tests.helpers import (
    GATEWAY_TOKEN,
    OPTIMIZER_KEY,
    SECOND_ACCOUNT,
    SECOND_TOKEN,
    STANDIN_TOKEN,
    Standin,
)
from tests.inprocess.api import STANDIN_URL, Api, settings_with
from tests.wsgi_transport import wsgi_session


@pytest.fixture(scope="session")
def standin_app() -> Flask:
    """The stand-in, in this process, playing two Cloudflare accounts."""
    return standin_package.create_app(
        optimizer_key=OPTIMIZER_KEY,
        gateway_token=GATEWAY_TOKEN,
        accounts={standin_package.DEFAULT_ACCOUNT: STANDIN_TOKEN, SECOND_ACCOUNT: SECOND_TOKEN},
    )


@pytest.fixture
def session(standin_app: Flask) -> requests.Session:
    """A session that reaches the stand-in at STANDIN_URL, the stand-in reset: no faults
    queued, nothing recorded, its starting latency."""
    session = wsgi_session(standin_app, STANDIN_URL)
    Standin(session, STANDIN_URL).reset()
    return session


@pytest.fixture
def standin(session: requests.Session) -> Standin:
    return Standin(session, STANDIN_URL)


@pytest.fixture
def make_app(session: requests.Session) -> Callable[..., Flask]:
    """Build an app with extra settings: make_app(IMAGE_EXPIRATION="2")."""

    def make(**env: str) -> Flask:
        return create_app(settings_with(**env), session)

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Flask's test client for the app."""
    return app.test_client()


@pytest.fixture
def api(client: FlaskClient) -> Api:
    return Api(client)
