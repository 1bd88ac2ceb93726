"""Gunicorn settings: the Procfile, `make run`, the tests and the benchmarks all use these."""

import contextlib
import ctypes
import gc
import glob
import os
import resource
import shutil
import sys
import tempfile
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
# gevent's worker, with a time limit on every client socket and refusals in JSON.
worker_class = "flux_service.web.worker.Worker"
# What one worker holds: an idle or waiting connection costs it about 12 KB, a stream some
# hundreds (1,000 streams: under 500 MB, see the benchmark), the most a client may send as
# headers 262 KB. Past this, the worker closes the connections idle longest to let new ones
# in (flux_service/web/worker.py); only while all have a request in flight do new ones wait in
# the kernel's queue.
worker_connections = _settings.worker_connections
# gevent workers keep sending heartbeats while requests wait on the network, so this only
# catches a worker that is truly stuck; it still outlasts the slowest allowed generation.
timeout = int(_settings.upstream_timeout + _settings.optimizer_timeout) + 30
graceful_timeout = 30
# In the gevent worker this is also the most a client may take to send a request's headers:
# an idle or slowloris connection is let go after it.
keepalive = _settings.idle_timeout
# Request headers: a line, and 32 fields of 8 KB at most (nginx takes 8 KB a line too).
limit_request_line = 4094
limit_request_fields = 32
limit_request_field_size = 8190
# The proxies whose X-Forwarded-Proto gunicorn believes, as the app believes them too.
forwarded_allow_ips = ",".join(_settings.forwarded_allow_ips)
# No control socket: it lives at one fixed path, so two services on one machine would clash.
control_socket_disable = True
# gunicorn's own lines (start, stop, refused requests) are JSON, like the service's; it
# writes no access lines of its own (the app writes one line per request).
logger_class = "flux_service.logs.GunicornLogger"


OPEN_FILES = 65536
TRIM_SECONDS = 10


def on_starting(server):
    """Allow enough open files: every waiting client holds two sockets (it, and upstream).
    And give the workers of this start a directory of their own for their metrics."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    # A fresh, empty directory each start, so that counts of an earlier run or of another
    # service on this machine never mix in. prometheus_client reads the variable when a
    # worker first imports it, so it is set here, before any worker is forked.
    server.metrics_dir = tempfile.mkdtemp(prefix="flux-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = server.metrics_dir


def child_exit(server, worker):
    """A worker has gone: drop its live gauges (the images it was drawing). Its counters
    stay, so that the totals never go down."""
    # What prometheus_client.multiprocess.mark_process_dead does: importing it would load
    # ssl, which the master must not hold when it forks the next worker (see
    # post_worker_init).
    for path in glob.glob(os.path.join(server.metrics_dir, f"gauge_live*_{worker.pid}.db")):
        with contextlib.suppress(FileNotFoundError):  # at shutdown the folder may be gone
            os.remove(path)


def on_exit(server):
    """Remove this start's metrics directory."""
    shutil.rmtree(server.metrics_dir, ignore_errors=True)


def post_fork(_server, worker):
    """Hand the worker the settings it applies to each client socket and request."""
    worker.client_timeout = _settings.client_timeout
    worker.max_body_bytes = _settings.max_body_bytes


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
    from gevent import get_hub  # noqa: PLC0415 (the worker's, as above)

    while True:
        time.sleep(TRIM_SECONDS)  # gevent's sleep in the worker: the others run meanwhile
        # On a real thread: handing back a heap a burst of photos left takes tens of
        # milliseconds, which the event loop would otherwise stand still for.
        get_hub().threadpool.apply(libc.malloc_trim, (0,))
