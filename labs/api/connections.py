"""The API's connections to the broker: made once per app, lazily, remade after a loss.

- :meth:`Broker.sync` is the ordinary blocking client from
  ``labs.broker.get_connection()``, used by the REST handlers (FastAPI runs
  plain ``def`` handlers in its threadpool, so a blocking call is fine there).
- :meth:`Broker.aio` is a ``redis.asyncio`` client on one connection pool, used
  by the push channels (SSE, WebSocket): an open stream costs a coroutine, not
  a thread.
- :meth:`Broker.hub` is the one reader of the global event stream that fans
  events out to every open stream (``hub.py``).

When the broker is down each of them raises
:class:`~labs.errors.BrokerUnavailable` (one readable line), which the app
answers with ``503``; the next request tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from urllib.parse import urlparse

import redis
import redis.asyncio as aioredis
from fastapi import Request
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from ..broker import get_connection, redis_url
from ..errors import BrokerUnavailable
from .hub import BLOCK_MS, EventHub

POOL_SIZE = 64
"""Connections the push channels share (a history read takes one briefly; the hub keeps one)."""


def hide_password(url: str) -> str:
    parsed = urlparse(url)
    return url.replace(f":{parsed.password}@", ":***@") if parsed.password else url


class Broker:
    """Lazily made connections to the lab's broker, shared by all requests of one app."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sync: redis.Redis | None = None
        self._url: str | None = None
        self._aio: aioredis.Redis | None = None
        self._hub: EventHub | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str | None:
        """The broker's URL (password hidden), once connected."""
        return hide_password(self._url) if self._url else None

    def sync(self) -> redis.Redis:
        """The blocking client; :class:`BrokerUnavailable` if no broker answers."""
        conn = self._sync
        if conn is None:
            with self._lock:
                if self._sync is None:
                    url = redis_url()
                    self._sync = get_connection()
                    self._url = url
                conn = self._sync
        return conn

    def reset(self) -> None:
        """Forget the connections after a broker error, so that the next request reconnects."""
        with self._lock:
            conn, self._sync = self._sync, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    async def aio(self) -> aioredis.Redis:
        """The asyncio client of the running event loop (one pool per loop)."""
        loop = asyncio.get_running_loop()
        if self._aio is None or self._loop is not loop:
            await run_in_threadpool(self.sync)  # raises BrokerUnavailable with a readable line
            assert self._url is not None
            # redis-py 8 gives a connection a 5 s socket timeout by default, which would cut the
            # hub's blocking XREAD (up to BLOCK_MS) after 5 quiet seconds: allow for the wait
            pool = aioredis.BlockingConnectionPool.from_url(
                self._url, max_connections=POOL_SIZE, timeout=10, socket_connect_timeout=2, socket_timeout=BLOCK_MS / 1000 + 10
            )
            self._aio, self._loop, self._hub = aioredis.Redis(connection_pool=pool), loop, None
        return self._aio

    async def hub(self) -> EventHub:
        """The running event hub of this event loop."""
        aconn = await self.aio()
        if self._hub is None:
            self._hub = EventHub(aconn)
        try:
            await self._hub.start()
        except (RedisError, OSError) as exc:
            self.reset()
            raise BrokerUnavailable(f"the broker at {self.url} does not answer: {exc}") from None
        return self._hub

    def hub_stats(self) -> dict[str, object]:
        return self._hub.stats() if self._hub is not None else {"running": False}

    async def aclose(self) -> None:
        if self._hub is not None and self._loop is asyncio.get_running_loop():
            await self._hub.stop()
        if self._aio is not None and self._loop is asyncio.get_running_loop():
            with contextlib.suppress(Exception):
                await self._aio.connection_pool.disconnect()
        self._aio = self._hub = self._loop = None
        self.reset()


def get_broker(request: Request) -> Broker:
    """FastAPI dependency: the app's :class:`Broker`."""
    return request.app.state.broker
