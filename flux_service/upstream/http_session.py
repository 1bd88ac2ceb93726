"""HTTP to the upstreams: one pooled session, with the CA bundle from the settings.

Left to itself, requests looks up proxies and netrc files in the environment on every call,
about a third of a millisecond each time; the settings already hold what it needs.
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter

from config import Settings

# As many pooled connections per host as generations may run at once.
POOL_SIZE = 1000
# Seconds to connect to an upstream (Workers AI, the optimizer): one that takes longer is
# not there.
CONNECT_TIMEOUT = 10.0


def http_session(settings: Settings) -> requests.Session:
    """The session every upstream call goes through."""
    session = requests.Session()
    session.trust_env = False
    session.verify = settings.ca_bundle or True
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
