"""Proxies and CA bundles for outgoing calls, from the settings alone."""

import certifi
import pytest

from config import Settings
from flux_service.proxies import proxies_for, s3_ca_bundle
from flux_service.upstream.http_session import http_session

PROXIED = Settings(
    cf_account_id="a",
    cf_api_token="t",
    https_proxy="http://proxy:3128",
    http_proxy="http://plain-proxy:3128",
    no_proxy="localhost, .internal.example,10.0.0.5",
)


@pytest.mark.parametrize(
    ("url", "proxies"),
    [
        ("https://api.cloudflare.com/client/v4", {"https": "http://proxy:3128"}),
        ("http://llm.example/v1", {"http": "http://plain-proxy:3128"}),
        ("http://localhost:11434/v1", {}),
        ("https://llm.internal.example/v1", {}),
        ("https://internal.example/v1", {}),
        ("http://10.0.0.5/v1", {}),
    ],
)
def test_proxies_follow_the_proxy_settings(url: str, proxies: dict) -> None:
    assert proxies_for(url, PROXIED) == proxies


def test_no_proxy_star_and_no_settings_mean_direct() -> None:
    direct = Settings(cf_account_id="a", cf_api_token="t")
    assert proxies_for("https://api.cloudflare.com", direct) == {}
    star = Settings(cf_account_id="a", cf_api_token="t", https_proxy="http://p:1", no_proxy="*")
    assert proxies_for("https://api.cloudflare.com", star) == {}


def test_the_session_never_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://from-the-environment:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/from/the/environment.pem")
    session = http_session(Settings(cf_account_id="a", cf_api_token="t"))
    settings = session.merge_environment_settings(
        "https://api.cloudflare.com/client/v4", {}, None, None, None
    )
    assert settings["proxies"] == {}
    assert settings["verify"] is True


@pytest.mark.parametrize(
    ("bundles", "chosen"),
    [
        ({}, certifi.where()),
        ({"ca_bundle": "/r.pem"}, "/r.pem"),
        ({"ca_bundle": "/r.pem", "s3_ca_bundle": "/s.pem"}, "/s.pem"),
    ],
    ids=["neither", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE first"],
)
def test_the_s3_store_is_checked_with_aws_ca_bundle_then_requests_ca_bundle(
    bundles: dict[str, str], chosen: str
) -> None:
    assert s3_ca_bundle(Settings(cf_account_id="a", cf_api_token="t", **bundles)) == chosen
