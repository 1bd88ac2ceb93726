"""Gunicorn settings: the Procfile, `make run`, the tests and the benchmarks all use these."""

import contextlib
import ctypes
import gc
import resource
import sys
import time

from config import ConfigError, load_settings

try:
    _settings = load_settings()
except ConfigError as error:
    sys.exit(f"flux-api cannot start: {error}")

bind = f"0.0.0.0:{_settings.port}"
# With IMAGE_STORE=memory the images live in one process, so there is one worker (the
# settings refuse more); with Redis every worker finds every image, and WEB_CONCURRENCY
# (default two per core) sets how many. gevent lets each worker hold thousands of clients
# waiting on slow generations at once.
workers = _settings.web_concurrency
worker_class = "gevent"
worker_connections = 4000
# gevent workers keep sending heartbeats while requests wait on the network, so this only
# catches a worker that is truly stuck; it still outlasts the slowest allowed generation.
timeout = int(_settings.upstream_timeout + _settings.optimizer_timeout) + 30
graceful_timeout = 30
# Longer than the idle timeout of common load balancers, so they never reuse a closed socket.
keepalive = 75
# No control socket: it lives at one fixed path, so two services on one machine would clash.
control_socket_disable = True


OPEN_FILES = 65536
TRIM_SECONDS = 10


def on_starting(_server):
    """Allow enough open files: every waiting client holds two sockets (it, and upstream)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def post_worker_init(_worker):
    """Settle the worker once the app is loaded."""
    # What start-up built lives as long as the process: the collector need not scan it again.
    gc.collect()
    gc.freeze()
    # Imported here, in the worker: the master must not load what gevent will patch.
    import gevent  # noqa: PLC0415

    with contextlib.suppress(OSError):  # not glibc: nothing to give back this way
        gevent.spawn(_give_memory_back, ctypes.CDLL("libc.so.6"))


def _give_memory_back(libc: ctypes.CDLL) -> None:
    """Every few seconds, hand the memory a burst of images left free back to the system.

    glibc keeps freed memory for reuse; after a burst of thousands of answers that is tens
    of megabytes no image will use again soon.
    """
    while True:
        time.sleep(TRIM_SECONDS)  # gevent's sleep in the worker: the others run meanwhile
        libc.malloc_trim(0)
