"""The S3 image store: images as objects in a bucket of Cloudflare R2, AWS S3, MinIO,
SeaweedFS or any S3-compatible store, shared by every worker and instance, kept for days or
for good.

Each image is one object, `<prefix><key>`, with its type as Content-Type and its expiry
beside it as user metadata (`x-amz-meta-expires`, a Unix time; absent when it is kept for
good). Every read checks the expiry, so an expired image is gone to the second: it answers
None and its object is deleted. The images nobody asks for again are deleted by a sweep
every so often and, where the bucket takes one, by a lifecycle rule a day after they expire.

The store deletes only objects it wrote: each carries its own key as user metadata
(`x-amz-meta-flux-api`), and every delete checks that mark, and the object's own expiry,
first. Objects of any other shape or mark, under the prefix or beside it, are left alone. The
prefix is never empty (the settings refuse `s3://bucket` alone), so neither the sweep nor the
lifecycle rule ever spans the whole bucket.

`_reaching_s3` turns every way of failing to reach the store into StoreUnavailableError, and
the log says which (`s3_client.describe`), once for each change.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from config import Settings

from .. import metrics
from ..errors import StoreUnavailableError
from .base import EXTENSIONS, IMAGE_KEY, StoredImage, new_key
from .s3_client import S3_ERRORS, Reader, describe, error_code, new_client
from .store_urls import bucket_and_prefix

log = logging.getLogger(__name__)

CHECK_INTERVAL = 2.0  # seconds the answer of one reachability check is reused for
RETRY_AFTER = 5
LONGEST_SWEEP_INTERVAL = 3600.0
DAY = 86400
EXPIRES = "expires"  # the user metadata, sent as x-amz-meta-expires
EXPIRES_HEADER = f"x-amz-meta-{EXPIRES}"
MARK = "flux-api"  # the user metadata that holds the object's own key: it is ours
MARK_HEADER = f"x-amz-meta-{MARK}"
RULE_ID = "flux-api pictures under {prefix}"
# The rule versions that took an empty prefix set: it expires the whole bucket.
WHOLE_BUCKET_RULE_ID = RULE_ID.format(prefix="/")
KEPT_FOR_GOOD = "public, max-age=31536000, immutable"  # a year: what caches take for good
UNAVAILABLE = "The image store (S3) cannot be used right now; try again shortly."

_NO_RULES = "NoSuchLifecycleConfiguration"


class S3Store:
    """Images in an S3 bucket, under a key prefix, with their expiry kept beside them.

    It bounds nothing by bytes: the bucket holds as much as its owner pays for.
    """

    name = "s3"

    def __init__(
        self,
        client: Any,  # boto3 builds its clients at run time: there is no class to name
        reader: Reader,
        bucket: str,
        prefix: str,
        ttl: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._s3 = client
        self._reader = reader
        self._bucket = bucket
        self._prefix = prefix
        self._ttl = ttl
        self._clock = clock
        self._fault: str | None = None  # the last failure logged, until the store answers
        self._check_lock = threading.Lock()
        self._checked_at = -math.inf
        self._reachable = True

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        """The store IMAGE_STORE=s3://… names, tending its bucket in the background."""
        bucket, prefix = bucket_and_prefix(settings.image_store)
        client = new_client(settings)
        store = cls(
            client,
            Reader(client, bucket, settings),
            bucket,
            prefix,
            settings.image_expiration,
        )
        threading.Thread(target=store._tend, name="s3-sweep", daemon=True).start()
        return store

    def put(self, data: bytes, mime: str, owner: str) -> str:  # noqa: ARG002
        key = new_key()  # a bucket bounds nothing by owner: the argument goes unused
        now = self._clock()
        with self._reaching_s3():
            self._s3.put_object(
                Bucket=self._bucket,
                Key=self._prefix + key,
                Body=data,
                ContentType=mime,
                Metadata={MARK: key, **expiry_metadata(self._ttl, now)},
                **freshness(self._ttl, now),
            )
        return key

    def get(self, key: str) -> StoredImage | None:
        with self._reaching_s3():
            answer = self._reader.get(self._prefix + key)
        if answer is None:
            return None
        left = seconds_left(answer.headers.get(EXPIRES_HEADER), self._clock())
        if left is not None and left <= 0:
            if answer.headers.get(MARK_HEADER) == key:  # ours to delete
                self._forget(self._prefix + key, len(answer.data))
            return None
        mime = answer.headers.get("Content-Type", "")
        if mime not in EXTENSIONS:
            return None  # no image of ours: another program's object of the same shape
        etag = strong_etag(answer.headers.get("ETag", ""))
        return StoredImage(answer.data, mime, left, etag=etag)

    def check(self) -> None:
        """A HEAD on the bucket, at most once every CHECK_INTERVAL seconds: checked before
        every generation, it must cost next to nothing."""
        with self._check_lock:  # one check at a time: the others wait for its answer
            if time.monotonic() - self._checked_at >= CHECK_INTERVAL:
                try:
                    with self._reaching_s3():
                        self._s3.head_bucket(Bucket=self._bucket)
                    self._reachable = True
                except StoreUnavailableError:
                    self._reachable = False
                self._checked_at = time.monotonic()
        if not self._reachable:
            raise StoreUnavailableError(UNAVAILABLE, retry_after=RETRY_AFTER)

    def sweep(self) -> int:
        """Delete the images under the prefix that have expired, and return how many went.

        The listing names the candidates (named as keys are, stored more than
        IMAGE_EXPIRATION ago: one request per thousand objects); each is then read for its
        mark and its own expiry, which IMAGE_EXPIRATION may have changed since, and deleted
        only when both say so.
        """
        # Listings give times to the second: a second's slack, so that nothing goes early.
        cutoff = datetime.fromtimestamp(self._clock() - self._ttl - 1, UTC)
        pages = self._s3.get_paginator("list_objects_v2")
        swept = 0
        for page in pages.paginate(Bucket=self._bucket, Prefix=self._prefix):
            old = [
                o
                for o in page.get("Contents", [])
                if o["LastModified"] < cutoff and IMAGE_KEY.fullmatch(o["Key"][len(self._prefix) :])
            ]
            expired = [o for o in old if self._expired_and_ours(o["Key"])]
            if expired:
                names = [{"Key": o["Key"]} for o in expired]
                self._s3.delete_objects(
                    Bucket=self._bucket, Delete={"Objects": names, "Quiet": True}
                )
                size = sum(o["Size"] for o in expired)
                metrics.images_evicted(self.name, "expired", size, len(expired))
                swept += len(expired)
        return swept

    def _expired_and_ours(self, name: str) -> bool:
        """Whether the object `name` bears our mark and has passed its own expiry."""
        try:
            head = self._s3.head_object(Bucket=self._bucket, Key=name)
        except ClientError:
            return False  # gone meanwhile, or not ours to read
        return ours_and_expired(name[len(self._prefix) :], head.get("Metadata", {}), self._clock())

    def keep_lifecycle_rule(self) -> None:
        """Set the bucket's lifecycle rule for our prefix (or remove it when images are
        kept for good), unless the bucket has rules of its own, which are left alone."""
        rule_id = RULE_ID.format(prefix=self._prefix)
        try:
            try:
                rules = self._s3.get_bucket_lifecycle_configuration(Bucket=self._bucket)["Rules"]
            except ClientError as error:
                if error_code(error) != _NO_RULES:
                    raise
                rules = []
            others = [
                rule for rule in rules if rule.get("ID") not in (rule_id, WHOLE_BUCKET_RULE_ID)
            ]
            if others:
                log.info(
                    "the bucket has lifecycle rules of its own, left as they are: expired "
                    "images go by the sweep"
                )
                if any(rule.get("ID") == WHOLE_BUCKET_RULE_ID for rule in rules):
                    log.warning(
                        "the bucket holds the rule %r an earlier version set: it expires "
                        "every object of the bucket; remove it",
                        WHOLE_BUCKET_RULE_ID,
                    )
                return
            wanted = lifecycle_rule(rule_id, self._prefix, self._ttl)
            if wanted is not None:
                self._s3.put_bucket_lifecycle_configuration(
                    Bucket=self._bucket, LifecycleConfiguration={"Rules": [wanted]}
                )
            elif rules:
                self._s3.delete_bucket_lifecycle(Bucket=self._bucket)
        except S3_ERRORS as error:
            log.info(
                "no lifecycle rule set: the store %s; expired images go by the sweep",
                describe(error),
            )

    def _tend(self) -> None:
        """Keep the lifecycle rule, then sweep the expired images out every so often."""
        self.keep_lifecycle_rule()
        if not self._ttl:
            return
        interval = sweep_interval(self._ttl)
        while True:
            time.sleep(interval)
            try:
                swept = self.sweep()
            except S3_ERRORS as error:
                log.warning("sweeping the image store failed: it %s", describe(error))
                continue
            if swept:
                log.info("swept %d expired images from the image store", swept)

    def _forget(self, name: str, size: int) -> None:
        """Delete an expired object of `size` bytes; a store that refuses leaves it to the
        sweep."""
        try:
            self._s3.delete_object(Bucket=self._bucket, Key=name)
        except S3_ERRORS as error:
            log.warning("an expired image could not be deleted: the store %s", describe(error))
            return
        metrics.images_evicted(self.name, "expired", size)

    @contextmanager
    def _reaching_s3(self) -> Iterator[None]:
        """Turn every way of not reaching the bucket into StoreUnavailableError; log each
        change (failing, failing otherwise, back again) once."""
        try:
            yield
        except S3_ERRORS as error:
            fault = describe(error)
            if fault != self._fault:
                log.error("image store (s3) %s", fault)
                self._fault = fault
            raise StoreUnavailableError(UNAVAILABLE, retry_after=RETRY_AFTER) from None
        if self._fault is not None:
            log.info("image store (s3) answers again")
            self._fault = None


def ours_and_expired(key: str, metadata: dict[str, str], now: float) -> bool:
    """Whether an object of `key` with this user `metadata` is an image this store wrote
    (its mark names the key) whose own expiry has passed at `now`; kept for good, never."""
    if metadata.get(MARK) != key:
        return False
    left = seconds_left(metadata.get(EXPIRES), now)
    return left is not None and left <= 0


def expiry_metadata(ttl: int, now: float) -> dict[str, str]:
    """The user metadata that keeps an image's expiry: none when it is kept for good."""
    return {EXPIRES: str(math.ceil(now + ttl))} if ttl else {}


def freshness(ttl: int, now: float) -> dict[str, Any]:
    """What the bucket tells browsers and CDNs when it serves an image itself
    (IMAGE_PUBLIC_BASE_URL): `Expires` at its expiry, or that it is kept for good."""
    if not ttl:
        return {"CacheControl": KEPT_FOR_GOOD}
    return {"Expires": datetime.fromtimestamp(math.ceil(now + ttl), UTC)}


def seconds_left(expires: str | None, now: float) -> float | None:
    """Seconds before an image that `expires` then expires (0 or less: it has); None when
    it is kept for good. An expiry that is not a number counts as long past."""
    if expires is None:
        return None
    try:
        return float(expires) - now
    except ValueError:
        return -math.inf


def strong_etag(raw: str) -> str | None:
    """The object's ETag as a quoted strong validator, or None if the store gave none."""
    if not raw or raw.startswith("W/"):
        return None
    return raw if raw.startswith('"') else f'"{raw}"'


def lifecycle_days(ttl: int) -> int | None:
    """Days after which the bucket itself deletes an image: a day after its expiry,
    rounded up to days; None when images are kept for good."""
    return math.ceil(ttl / DAY) + 1 if ttl else None


def lifecycle_rule(rule_id: str, prefix: str, ttl: int) -> dict | None:
    """Our lifecycle rule for objects under `prefix`, or None when they are kept for good."""
    days = lifecycle_days(ttl)
    if days is None:
        return None
    return {
        "ID": rule_id,
        "Status": "Enabled",
        "Filter": {"Prefix": prefix},
        "Expiration": {"Days": days},
    }


def sweep_interval(ttl: int) -> float:
    """Seconds between sweeps: a quarter of IMAGE_EXPIRATION, from a second to an hour."""
    return min(max(ttl / 4, 1.0), LONGEST_SWEEP_INTERVAL)
