"""The broker: the seed's 分拣中心 (sorting centre) that every process shares.

One function, :func:`get_connection`, gives every process (workers, the API, the
dashboard, a notebook) its Redis connection:

- ``REDIS_URL`` set: that server.
- otherwise the *embedded broker*: fakeredis's TCP server, started by
  ``python -m labs broker`` (or ``python -m labs up``) on a free loopback port.
  Its URL is written to ``<state dir>/broker.url`` so that processes started
  later find the same broker.

For self-contained cells and unit tests, :func:`in_process_connection` gives an
in-process fakeredis that needs no server at all.

The parts, one job each:

- :mod:`.connection`: which URL, connecting with one readable line when the
  broker is down, riding out an outage (workers);
- :mod:`.embedded`: the embedded broker, fakeredis's TCP server;
- :mod:`.fakeredis_fixes`: where fakeredis differs from Redis, the fixes, and
  the guard that checks the installed fakeredis is one they were written for;
- :mod:`.daemon`: the embedded broker as a background process.
"""

from __future__ import annotations

from .connection import (
    URL_FILE,
    connect,
    get_connection,
    in_process_connection,
    is_alive,
    redis_url,
    ride_out_outages,
    url_file,
)
from .daemon import ensure_broker, serve, stop_background_broker
from .embedded import EmbeddedBroker

__all__ = [
    "URL_FILE",
    "EmbeddedBroker",
    "connect",
    "ensure_broker",
    "get_connection",
    "in_process_connection",
    "is_alive",
    "redis_url",
    "ride_out_outages",
    "serve",
    "stop_background_broker",
    "url_file",
]
