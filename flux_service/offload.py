"""gevent, where the service needs it by name: work that would stall the event loop run on a
real OS thread, and a deadline on waits that may block for long."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import TypeVar

import gevent
from gevent import monkey
from gevent.hub import get_hub
from gevent.threadpool import ThreadPool

T = TypeVar("T")


def off_the_event_loop(function: Callable[..., T], *args: object, holds_gil: bool = False) -> T:
    """`function(*args)` on a real OS thread when gevent serves us, else right here.

    Pillow releases the GIL while it decodes, resizes and encodes, so on a real thread the
    event loop keeps serving every other client meanwhile instead of stalling for the
    milliseconds an image takes. Work that `holds_gil` (pure Python) runs on one thread of
    its own, one call at a time: the event loop then shares the GIL with that one thread,
    not with ten, and waits no more than a switch interval (5 ms) for it.
    """
    if not monkey.is_module_patched("threading"):
        return function(*args)
    pool = _one_thread() if holds_gil else get_hub().threadpool
    # An exception is carried back and raised here: escaping the thread, gevent's hub would
    # print its traceback to stderr, and a bad upload would leave a stack trace in the log.
    value, error = pool.apply(_caught, (function, args))
    if error is not None:
        raise error
    return value


def _caught(function: Callable[..., T], args: tuple) -> tuple[T | None, Exception | None]:
    try:
        return function(*args), None
    except Exception as error:
        return None, error


@functools.cache
def _one_thread() -> ThreadPool:
    return ThreadPool(1)


class DeadlineExceeded(Exception):
    """A wait under `deadline` took longer than it was allowed."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Interrupt the block after `seconds` with DeadlineExceeded, under gevent; else no limit.

    A socket read that never ends (a client sending a byte now and then) cannot be cut short
    by a socket timeout, which counts from the last byte; this counts from the start.
    """
    if not monkey.is_module_patched("socket"):
        yield
        return
    with gevent.Timeout(seconds, DeadlineExceeded):
        yield
