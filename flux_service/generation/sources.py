"""Where the images a request works from come from, read only when they are needed.

A chat message carries `image_url` parts (a data URI, or an http(s) URL); the edits route
carries uploads; a follow-up may mean an image this service drew earlier. Each becomes an
`ImageSource` whose `load()` gives the file's bytes: a data URI is decoded, one of our own
images is read from the store (never fetched over HTTP), and any other URL goes through the
safe fetcher, or is refused when FETCH_IMAGE_URLS is off.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import pybase64

from ..errors import InvalidRequestError
from ..stores.base import IMAGE_KEY, IMAGE_PATH, ImageStore
from .fetch import FetchError, ImageFetcher

_DATA_URI = re.compile(r"data:(image/[\w.+-]+)?(;[\w=.+-]+)*;base64,", re.IGNORECASE)


@dataclass(frozen=True)
class ImageSource:
    """One image to work from: where it came from (for the answer) and how to read it."""

    origin: str  # "attached", "uploaded", "earlier" (ours, drawn before) or "fetched"
    load: Callable[[], bytes]


@dataclass(frozen=True)
class Sources:
    """How a request's images are read: the store for ours, the fetcher for the rest."""

    store: ImageStore
    fetcher: ImageFetcher | None  # None: FETCH_IMAGE_URLS is off
    max_bytes: int  # MAX_IMAGE_BYTES
    own_hosts: frozenset[str]  # the hosts our image links use
    bucket: str = ""  # where links to a public bucket begin (IMAGE_PUBLIC_BASE_URL), if so

    def from_url(self, url: str) -> ImageSource:
        """The image a chat message's `image_url` names."""
        head = _DATA_URI.match(url[:200])
        if head:
            return ImageSource("attached", lambda: self._decode(url[head.end() :]))
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise InvalidRequestError(
                "An image URL must be a data: URI or an http(s) URL.", code="invalid_image_url"
            )
        key = self.own_key(url)
        if key is not None:
            return ImageSource("earlier", lambda: self.stored(key))
        fetcher = self.fetcher
        if fetcher is None:
            raise InvalidRequestError(
                "This server does not fetch images from URLs (FETCH_IMAGE_URLS is off): "
                "attach the image itself.",
                code="image_url_not_fetched",
            )
        return ImageSource("fetched", lambda: _fetched(fetcher, url))

    def encoded(self, text: str, what: str) -> ImageSource:
        """An image sent as text, the way AUTOMATIC1111's clients send them: bare base64, a
        data: URI, or an http(s) URL; `what` names it in a refusal."""
        if _DATA_URI.match(text[:200]) or text[:8].lower().startswith(("http://", "https://")):
            return self.from_url(text)
        return ImageSource("uploaded", lambda: self._bare(text, what))

    def uploaded(self, data: bytes) -> ImageSource:
        """An image sent as a file."""
        if len(data) > self.max_bytes:
            raise _too_large(self.max_bytes)
        return ImageSource("uploaded", lambda: data)

    def earlier(self, key: str) -> ImageSource:
        """An image this service drew, by its key."""
        return ImageSource("earlier", lambda: self.stored(key))

    def own_key(self, url: str) -> str | None:
        """The key of `url` when it links to one of our images, else None."""
        if self.bucket and url.startswith(self.bucket):
            key = url[len(self.bucket) :]
            return key if IMAGE_KEY.fullmatch(key) else None
        parts = urlsplit(url)
        path = parts.path
        key = path.rpartition(IMAGE_PATH)[2] if IMAGE_PATH in path else ""
        if parts.hostname not in self.own_hosts or not IMAGE_KEY.fullmatch(key):
            return None
        return key

    def stored(self, key: str) -> bytes:
        image = self.store.get(key)
        if image is None:
            raise InvalidRequestError(
                "The earlier image this asks to change has expired; draw it again first.",
                code="image_expired",
            )
        return image.read()

    def _decode(self, encoded: str) -> bytes:
        if len(encoded) * 3 // 4 > self.max_bytes:
            raise _too_large(self.max_bytes)
        try:
            return pybase64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequestError(
                "An attached image's data: URI is not valid base64.", code="invalid_image"
            ) from None

    def _bare(self, encoded: str, what: str) -> bytes:
        if len(encoded) * 3 // 4 > self.max_bytes:
            raise _too_large(self.max_bytes)
        try:
            return pybase64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            pass
        try:  # line breaks and spaces, as some encoders write them
            return pybase64.b64decode("".join(encoded.split()), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequestError(
                f"{what} is not valid base64 (nor a data: URI or an http(s) URL).",
                code="invalid_image",
            ) from None


def _fetched(fetcher: ImageFetcher, url: str) -> bytes:
    try:
        return fetcher.fetch(url)
    except FetchError as error:
        host = urlsplit(url).hostname
        raise InvalidRequestError(
            f"The image at {host} was not fetched: {error}.", code="image_url_refused"
        ) from None


def _too_large(limit: int) -> InvalidRequestError:
    return InvalidRequestError(
        f"An image is larger than this server takes (MAX_IMAGE_BYTES, {limit / 2**20:g} MiB).",
        code="image_too_large",
    )
