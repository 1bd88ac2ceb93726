"""Which proxy reaches a URL, and which CA bundle checks the S3 store: from the settings alone.

The calls to Workers AI, the optimizer and the S3 store (its writes and its reads alike) take
their proxy from here, so that one setting reaches them all. Pictures fetched from a user's URL
go direct, to the very address the fetch guard checked.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import certifi

from config import Settings


def proxy_for(url: str, settings: Settings) -> str:
    """The proxy to reach `url` through: HTTPS_PROXY or HTTP_PROXY unless NO_PROXY names it;
    "" to go direct."""
    parts = urlsplit(url)
    proxy = settings.https_proxy if parts.scheme == "https" else settings.http_proxy
    return "" if _bypassed(parts.hostname or "", settings.no_proxy) else proxy


def proxies_for(url: str, settings: Settings) -> dict[str, str]:
    """The same, as requests and botocore take it: by scheme, empty to go direct."""
    proxy = proxy_for(url, settings)
    return {urlsplit(url).scheme: proxy} if proxy else {}


def s3_ca_bundle(settings: Settings) -> str:
    """The CA bundle the S3 store is checked with: AWS_CA_BUNDLE, else REQUESTS_CA_BUNDLE,
    else certifi's (boto3's own order)."""
    return settings.s3_ca_bundle or settings.ca_bundle or certifi.where()


def _bypassed(host: str, no_proxy: str) -> bool:
    for entry in (e.strip().lower().lstrip(".") for e in no_proxy.split(",")):
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False
