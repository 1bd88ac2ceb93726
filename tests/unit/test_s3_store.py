"""The S3 store's pure parts: where objects go, how their expiry is kept and read, the
lifecycle rule, and what the log says of each way the store fails."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError
from urllib3.exceptions import ReadTimeoutError

from config import Settings
from flux_service.stores.s3_client import Reader, describe, new_client
from flux_service.stores.s3_store import (
    expiry_metadata,
    freshness,
    lifecycle_days,
    lifecycle_rule,
    ours_and_expired,
    seconds_left,
    strong_etag,
    sweep_interval,
)
from flux_service.stores.store_urls import bucket_and_prefix, public_links


@pytest.mark.parametrize(
    ("image_store", "expected"),
    [
        ("s3://pictures/flux/", ("pictures", "flux/")),
        ("s3://pictures/flux", ("pictures", "flux/")),
        ("s3://pictures/a/b", ("pictures", "a/b/")),
    ],
)
def test_the_prefix_is_a_folder_of_the_bucket(image_store: str, expected: tuple) -> None:
    assert bucket_and_prefix(image_store) == expected


KEY = "Vx" * 16


@pytest.mark.parametrize(
    ("key", "metadata", "deleted"),
    [
        (KEY, {"flux-api": KEY, "expires": "1000"}, True),
        (KEY, {"flux-api": KEY, "expires": "3000"}, False),  # its own expiry is later
        (KEY, {"flux-api": KEY}, False),  # kept for good, whatever IMAGE_EXPIRATION is now
        (KEY, {"expires": "1000"}, False),  # no mark: someone else's
        (KEY, {"flux-api": "Ab" * 16, "expires": "1000"}, False),  # marked for another key
        (KEY, {}, False),
    ],
)
def test_only_a_marked_picture_past_its_own_expiry_is_deleted(
    key: str, metadata: dict[str, str], deleted: bool
) -> None:
    assert ours_and_expired(key, metadata, now=2000.0) is deleted


def test_the_expiry_is_a_unix_time_rounded_up() -> None:
    assert expiry_metadata(1800, 1000.2) == {"expires": "2801"}
    assert expiry_metadata(0, 1000.2) == {}  # kept for good: no expiry at all


def test_caches_keep_what_the_bucket_serves_until_it_expires() -> None:
    assert freshness(1800, 1000.2) == {"Expires": datetime(1970, 1, 1, 0, 46, 41, tzinfo=UTC)}
    assert freshness(0, 1000.2) == {"CacheControl": "public, max-age=31536000, immutable"}


@pytest.mark.parametrize(
    ("expires", "left"),
    [
        ("2801", 0.5),
        ("2800", -0.5),
        (None, None),  # kept for good
        ("soon", -math.inf),  # unreadable: long past
    ],
)
def test_seconds_left_come_from_the_metadata(expires: str | None, left: float | None) -> None:
    assert seconds_left(expires, 2800.5) == left


@pytest.mark.parametrize(
    ("raw", "etag"),
    [
        ('"5d41402abc4b2a76b9719d911017c592"', '"5d41402abc4b2a76b9719d911017c592"'),
        ("5d41402abc4b2a76b9719d911017c592", '"5d41402abc4b2a76b9719d911017c592"'),
        ('"9b2cf535f27731c974343645a3985328-2"', '"9b2cf535f27731c974343645a3985328-2"'),
        ('W/"5d41"', None),  # weak: no validator for ranges
        ("", None),
    ],
)
def test_the_etag_is_quoted_and_strong(raw: str, etag: str | None) -> None:
    assert strong_etag(raw) == etag


@pytest.mark.parametrize(
    ("ttl", "days"),
    [(1, 2), (1800, 2), (86400, 2), (86401, 3), (7 * 86400, 8), (0, None)],
)
def test_the_bucket_deletes_a_day_after_the_expiry(ttl: int, days: int | None) -> None:
    assert lifecycle_days(ttl) == days


def test_the_lifecycle_rule_covers_the_prefix_alone() -> None:
    assert lifecycle_rule("ours", "flux/", 1800) == {
        "ID": "ours",
        "Status": "Enabled",
        "Filter": {"Prefix": "flux/"},
        "Expiration": {"Days": 2},
    }
    assert lifecycle_rule("ours", "flux/", 0) is None


@pytest.mark.parametrize(
    ("ttl", "seconds"), [(2, 1.0), (4, 1.0), (60, 15.0), (1800, 450.0), (30 * 86400, 3600.0)]
)
def test_sweeps_come_at_a_quarter_of_the_expiry(ttl: int, seconds: float) -> None:
    assert sweep_interval(ttl) == seconds


def _answer(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "HeadBucket")


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (_answer("SignatureDoesNotMatch"), "refused the credentials (SignatureDoesNotMatch)"),
        (_answer("InvalidAccessKeyId"), "refused the credentials (InvalidAccessKeyId)"),
        (_answer("AccessDenied"), "refused the credentials (AccessDenied)"),
        (_answer("403"), "refused the credentials (403)"),  # a HEAD: no body, no code
        (_answer("NoSuchBucket"), "has no such bucket (NoSuchBucket)"),
        (_answer("404"), "has no such bucket (404)"),
        (_answer("InternalError"), "answered an error (InternalError)"),
        (_answer(""), "answered an error (no code)"),
        (
            EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
            "cannot be reached (EndpointConnectionError)",
        ),
        (
            ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"),
            "cannot be reached (ConnectTimeoutError)",
        ),
        (
            ReadTimeoutError(None, "/pictures/k3y", "read timed out"),
            "cannot be reached (ReadTimeoutError)",
        ),
    ],
)
def test_the_log_says_how_the_store_fails(error: Exception, said: str) -> None:
    assert describe(error) == said


def test_the_log_repeats_nothing_the_store_said() -> None:
    said = describe(_answer("SignatureDoesNotMatch", "StringToSign: AWS4 secret-material"))
    assert "secret-material" not in said
    assert len(describe(_answer("X" * 500))) < 80


def _settings(**fields: str) -> Settings:
    return Settings(
        cf_account_id="a",
        cf_api_token="t",
        image_store="s3://pictures/flux/",
        aws_access_key_id="key-id",
        aws_secret_access_key="secret",
        **fields,
    )


@pytest.mark.parametrize(
    ("settings", "url"),
    [
        (_settings(s3_endpoint_url="http://127.0.0.1:8333"), "http://127.0.0.1:8333/pictures/"),
        (_settings(aws_region="eu-central-1"), "https://pictures.s3.amazonaws.com/"),
    ],
    ids=["an endpoint: buckets as paths", "AWS: a host per bucket"],
)
def test_reads_go_where_boto3_puts_the_bucket(settings: Settings, url: str) -> None:
    reader = Reader(new_client(settings), "pictures", settings)  # nothing is sent
    assert reader.url("flux/k3y") == f"{url}flux/k3y"


def test_public_links_go_straight_to_the_bucket() -> None:
    public = _settings(image_public_base_url="https://img.example/")
    assert public_links(public) == "https://img.example/flux/"
    assert public_links(_settings()) == ""
