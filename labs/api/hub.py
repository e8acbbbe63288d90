"""One transmitter, many radios: the API process's single reader of the event log.

Every open SSE stream and WebSocket wants the same thing: the lifecycle events
of one job (or of all jobs) the moment a worker records them. Instead of each
client blocking in its own ``XREAD`` (200 clients: 200 Redis connections and
200 replies to parse for every event), the API runs **one** loop that blocks
on the *global* stream (``lab:events``) and hands each new event to the
subscribers of its job, like a radio station (类比3: 广播电台) that broadcasts
once for every radio tuned in. Each event is encoded once (:class:`Push`) and
the same bytes go to every subscriber.

Why a subscriber never misses an event (the gap-free hand-over, used by
``feed.py``): a client first *subscribes*, then reads the job's stream from
Redis (its history), then takes live events from its queue, skipping ids it
has already sent. An event recorded before the history read is in the
history; one recorded after it reaches the hub after the subscription began.
Stream ids (``<milliseconds>-<sequence>``) are ordered, and the per-job stream
and the global stream share them, so the overlap is removed by comparing ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from functools import cached_property
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sse_starlette import ServerSentEvent

from .. import keys
from ..events import Event, parse

log = logging.getLogger(__name__)

BLOCK_MS = 5000
"""How long one XREAD waits before it asks again (it returns at once when an event arrives)."""
BATCH = 1000
QUEUE_LIMIT = 10_000
"""Events a subscriber may have waiting; past that it is marked lagged and re-reads from Redis."""

EVENT_ID = re.compile(r"^(\d{1,20})(?:-(\d{1,20}))?$")


def id_key(event_id: str) -> tuple[int, int]:
    """A stream id as a sortable pair: ``"1700000000000-3"`` -> ``(1700000000000, 3)``."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


def check_event_id(raw: str | None) -> str | None:
    """A resume point (``Last-Event-ID``) in full form, or None; ValueError if it is not a stream id."""
    if raw is None or raw.strip() == "":
        return None
    match = EVENT_ID.match(raw.strip())
    if not match:
        raise ValueError(f"{raw[:60]!r} is not an event id (expected <milliseconds>-<sequence>, e.g. 1700000000000-0)")
    return f"{int(match.group(1))}-{int(match.group(2) or 0)}"


def dumps(data: Any) -> str:
    """Compact JSON that keeps Chinese text readable."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


class Push:
    """One event on its way to the clients, encoded once for all of them."""

    def __init__(self, event: Event) -> None:
        self.event = event

    @cached_property
    def data(self) -> dict[str, Any]:
        return self.event.to_dict()

    @cached_property
    def sse(self) -> bytes:
        """The SSE message: ``id:`` the event id, ``event:`` its type, ``data:`` its JSON."""
        return ServerSentEvent(dumps(self.data), event=self.event.event, id=self.event.id).encode()

    @cached_property
    def ws(self) -> str:
        """The WebSocket frame: ``{"type": "event", ...the event...}``."""
        return dumps({"type": "event", **self.data})


class BrokerLost(Exception):
    """The hub lost the broker while clients were listening."""


class Subscription:
    """A queue of pushes for one job (or for all jobs when ``job_id`` is None)."""

    def __init__(self, job_id: str | None) -> None:
        self.job_id = job_id
        self.queue: asyncio.Queue[Push | None] = asyncio.Queue()
        self.lagged = False
        self.lost: str | None = None

    def put(self, push: Push) -> None:
        if self.queue.qsize() >= QUEUE_LIMIT:
            self.lagged = True  # the reader re-reads what it missed from Redis
            return
        self.queue.put_nowait(push)

    def drop(self, reason: str) -> None:
        self.lost = reason
        self.queue.put_nowait(None)

    async def next(self, timeout: float | None = None) -> Push | None:
        """The next push, or None after ``timeout`` seconds; raises :class:`BrokerLost`."""
        try:
            push = await asyncio.wait_for(self.queue.get(), timeout) if timeout is not None else await self.queue.get()
        except TimeoutError:
            return None
        if push is None and self.lost:
            raise BrokerLost(self.lost)
        return push

    def clear(self) -> None:
        self.lagged = False
        while not self.queue.empty():
            self.queue.get_nowait()


class EventHub:
    """Reads the global stream once for the whole process and fans it out."""

    def __init__(self, aconn: aioredis.Redis) -> None:
        self.aconn = aconn
        self.position = "0-0"
        self.delivered = 0
        self._subs: dict[str | None, set[Subscription]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def stats(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "position": self.position,
            "subscribers": sum(len(s) for s in self._subs.values()),
            "delivered": self.delivered,
        }

    async def start(self) -> None:
        """Start the reader at the newest event (idempotent); raises RedisError if the broker is down."""
        async with self._lock:
            if self.running:
                return
            newest = await self.aconn.xrevrange(keys.GLOBAL_STREAM, count=1)
            self.position = newest[0][0].decode() if newest else "0-0"
            self._task = asyncio.create_task(self._run(), name="lab-event-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    @contextlib.contextmanager
    def subscribe(self, job_id: str | None) -> Iterator[Subscription]:
        """Receive the pushes of ``job_id`` (None: of every job) while the block runs."""
        sub = Subscription(job_id)
        self._subs[job_id].add(sub)
        try:
            yield sub
        finally:
            subs = self._subs.get(job_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[job_id]

    async def _run(self) -> None:
        while True:
            try:
                reply = await self.aconn.xread({keys.GLOBAL_STREAM: self.position}, count=BATCH, block=BLOCK_MS)
            except (RedisError, OSError) as exc:
                log.warning("event hub lost the broker: %s", exc)
                for subs in list(self._subs.values()):
                    for sub in list(subs):
                        sub.drop(f"lost the broker: {exc}")
                # the pool's other connections died with the broker: close them, or the next reader
                # and the clients' history reads would each meet a dead one once after a restart
                with contextlib.suppress(Exception):
                    await self.aconn.connection_pool.disconnect()
                return  # the next subscriber starts a new reader
            for _stream, entries in reply or []:
                for raw_id, fields in entries:
                    push = Push(parse(raw_id, fields))
                    self.position = push.event.id
                    self.delivered += 1
                    for sub in self._subs.get(push.event.job_id, ()):
                        sub.put(push)
                    for sub in self._subs.get(None, ()):
                        sub.put(push)
