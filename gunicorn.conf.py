"""Gunicorn settings: the Procfile, `make run`, the tests and the benchmarks all use these."""

import sys

from config import ConfigError, load_settings

try:
    _settings = load_settings()
except ConfigError as error:
    sys.exit(f"flux-api cannot start: {error}")

bind = f"0.0.0.0:{_settings.port}"
# One process: the in-memory image store lives in it, so the request that fetches a picture
# always finds the process that stored it. gevent lets that one process hold thousands of
# clients waiting on slow generations at once.
workers = 1
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
