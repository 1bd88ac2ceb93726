"""The same image is not paid for twice: a repeatable request answered from the store.

A request is repeatable when its model takes no seed (FLUX.1 schnell) or the client chose
the seed: the same inputs then draw the same image. `request_digest` names such a draw;
an index maps it to the key of the image it stored. A later identical request gets that
image while it is kept, and identical requests at the same moment share one upstream call:
in this process through a `_Flight`, across processes through the index's claim (a Redis
lock, or a file lock beside the disk store), the others waiting for the result.

    request ─digest─> index: key ─store─> the image        (reused)
                      none ─claim─> draw, store, remember    (drawn)
                            held ─wait─> the other's image, or draw after all

The index is only a pointer: every hit is checked against the store, so an image that went
early (a full store) is drawn anew, never linked dead; its entries expire with the images.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from ..stores.base import ImageStore, StoredImage
from ..stores.reuse_index import Index

log = logging.getLogger(__name__)

# Seconds past the longest a draw may take (a slot, then Workers AI) that a request waits
# on an identical one before drawing itself.
REUSE_MARGIN = 5.0
POLL_SECONDS = 0.05  # how often a waiting request looks for the image another is drawing
# An image with less than this share of its lifetime left is drawn anew: its link would
# die before the user looks at it.
MIN_LIFE_SHARE = 0.1


def request_digest(
    owner: str,
    model: str,
    prompt: str,
    size: tuple[int, int],
    steps: int | None,
    seed: int | None,
    mime: str | None,
    images: tuple[str, ...] = (),
    tuning: tuple[object, ...] = (),
) -> str:
    """The name of one repeatable draw: everything that decides the image it stores.

    `prompt` is the prompt sent to the model (after the optimizer), `size` the size
    delivered, `mime` the type asked for (None: the model's own), `images` the content
    digests of the images it works from and of its mask, `tuning` the negative prompt,
    guidance and strength sent, if any. `owner` keeps one key's images from another's: a
    reused answer would tell a client what someone else asked for.
    """
    fields: list[object] = [owner, model, prompt, list(size), steps, seed, mime, list(images)]
    if tuning:
        fields.append(list(tuning))
    # ASCII escapes: a lone surrogate in a prompt is digested, never an encoding error.
    return hashlib.sha256(json.dumps(fields, ensure_ascii=True).encode()).hexdigest()


class Keyed(Protocol):
    """A drawn image, known by its store key."""

    @property
    def key(self) -> str: ...


K = TypeVar("K", bound=Keyed)


@dataclass(frozen=True)
class Reused:
    """A stored image handed to an identical request."""

    key: str
    image: StoredImage


@dataclass
class _Flight:
    """One draw under way in this process, for the identical requests that wait on it."""

    done: threading.Event = field(default_factory=threading.Event)
    key: str | None = None  # set once the image is stored


class Reuse:
    """Answers repeatable draws from the store, and shares the ones under way."""

    def __init__(self, index: Index, store: ImageStore, ttl: int, wait: float) -> None:
        self._index = index
        self._store = store
        self._min_left = ttl * MIN_LIFE_SHARE
        self._wait = wait  # the longest a request waits on another's draw
        self._flights: dict[str, _Flight] = {}
        self._lock = threading.Lock()

    def obtain(self, digest: str, draw: Callable[[], K]) -> K | Reused:
        """The image for `digest`: one stored, or being drawn, for an identical request,
        else the one `draw()` stores. When the draw it waits on fails, the next waiting
        request draws; when the wait runs out, each draws itself."""
        deadline = time.monotonic() + self._wait
        while True:
            with self._flight(digest) as (flight, leads):
                if leads:
                    result = self._across(digest, draw, deadline)
                    flight.key = result.key
                    return result
            if flight.done.wait(max(0.0, deadline - time.monotonic())) and flight.key:
                found = self._stored(flight.key)
                if found is not None:
                    return found
            if time.monotonic() >= deadline:
                return self._too_long(digest, draw)

    @contextmanager
    def _flight(self, digest: str) -> Iterator[tuple[_Flight, bool]]:
        """This process's flight for `digest`, and whether this request leads it; the
        leader's ends (and its followers wake) when the context does."""
        with self._lock:
            flight = self._flights.get(digest)
            leads = flight is None
            if flight is None:
                flight = self._flights[digest] = _Flight()
        try:
            yield flight, leads
        finally:
            if leads:
                with self._lock:
                    del self._flights[digest]
                flight.done.set()

    def _across(self, digest: str, draw: Callable[[], K], deadline: float) -> K | Reused:
        """The image another process stored or is drawing, else our own draw."""
        found = self._found(digest)
        while found is None:
            claim = self._index.claim(digest)
            if claim is not None:
                with claim:
                    # It may have been stored between our look and our claim.
                    return self._found(digest) or self._drawn(digest, draw)
            if time.monotonic() >= deadline:
                return self._too_long(digest, draw)
            time.sleep(POLL_SECONDS)
            found = self._found(digest)
        return found

    def _too_long(self, digest: str, draw: Callable[[], K]) -> K:
        log.warning("an identical request took too long to draw; drawing this one itself")
        return self._drawn(digest, draw)

    def _drawn(self, digest: str, draw: Callable[[], K]) -> K:
        result = draw()
        self._index.remember(digest, result.key)
        return result

    def _found(self, digest: str) -> Reused | None:
        key = self._index.find(digest)
        return self._stored(key) if key is not None else None

    def _stored(self, key: str) -> Reused | None:
        """The image under `key`, if it is there with enough of its life left."""
        image = self._store.get(key)
        if image is None:
            return None
        if image.seconds_left is not None and image.seconds_left < self._min_left:
            if image.file is not None:
                image.file.close()
            return None
        return Reused(key, image)
