"""Work that would stall gevent's event loop, run on a real OS thread instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from gevent import monkey
from gevent.hub import get_hub

T = TypeVar("T")


def off_the_event_loop(function: Callable[..., T], *args: object) -> T:
    """`function(*args)` on a real OS thread when gevent serves us, else right here.

    Pillow releases the GIL while it decodes, resizes and encodes, so on a real thread the
    event loop keeps serving every other client meanwhile instead of stalling for the
    milliseconds an image takes.
    """
    if monkey.is_module_patched("threading"):
        return get_hub().threadpool.apply(function, args)
    return function(*args)
