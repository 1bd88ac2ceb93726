"""What IMAGE_STORE and REDIS_URL name: a bucket and its prefix, public links, a shared Redis."""

from __future__ import annotations

from urllib.parse import urlsplit

from config import Settings, store_scheme


def bucket_and_prefix(image_store: str) -> tuple[str, str]:
    """The bucket and key prefix of IMAGE_STORE=s3://bucket/prefix; a prefix ends in `/`."""
    parts = urlsplit(image_store)
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


def public_links(settings: Settings) -> str:
    """Where answers link images in a public bucket (IMAGE_PUBLIC_BASE_URL and the store's
    key prefix: the link is this and the key); "" when they link to this service."""
    if not settings.image_public_base_url:
        return ""
    return (
        f"{settings.image_public_base_url.rstrip('/')}/{bucket_and_prefix(settings.image_store)[1]}"
    )


def shared_redis(settings: Settings) -> str:
    """The Redis every instance shares, if the service has one: the Redis image store's,
    else REDIS_URL's; "" when there is none."""
    if store_scheme(settings.image_store) == "redis":
        return settings.image_store
    return settings.redis_url
