"""Events as one ordered feed: first what the client missed, then live, then the end.

Both push channels send exactly what these generators yield, so SSE and the
WebSocket agree event for event:

- :func:`job_feed`: one job's events after ``after`` (all of them without it),
  then each new one the moment a worker records it. It ends once the job is in
  a final state and the annotations recorded right after it (``dead_lettered``
  follows ``failed`` within milliseconds) have arrived.
- :func:`firehose`: the events of every job, optionally filtered, without end
  (the dashboard's view).

No gap and no duplicate: see ``hub.py`` for why subscribing *before* reading
the history and skipping ids already sent is enough.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import redis.asyncio as aioredis

from .. import keys
from ..events import Event, parse
from ..states import is_terminal
from .connections import Broker
from .hub import Push, id_key

ANNOTATION_GRACE = 0.2
"""Seconds (real time) to wait after a final event for annotations such as ``dead_lettered``."""
PAGE = 1000


async def _job_history(aconn: aioredis.Redis, job_id: str, after: str | None) -> list[Push]:
    start = f"({after}" if after else "-"
    return [Push(parse(i, raw)) for i, raw in await aconn.xrange(keys.job_stream(job_id), min=start)]


async def job_feed(broker: Broker, job_id: str, after: str | None = None) -> AsyncIterator[Push]:
    """The job's events after ``after``, then live ones, until its final state (see the module docstring)."""
    hub = await broker.hub()
    aconn = await broker.aio()
    with hub.subscribe(job_id) as sub:
        # read the state *after* subscribing: if it is final, the final event is already in the history
        state = await aconn.hget(keys.JOB_STATES, job_id)
        final = state is not None and is_terminal(state.decode())
        last = after or "0-0"
        batch = await _job_history(aconn, job_id, after)
        while True:
            for push in batch:
                if id_key(push.event.id) <= id_key(last):
                    continue  # already sent (it was in the history and in the queue)
                yield push
                last = push.event.id
                final = final or push.event.terminal
            push = await sub.next(ANNOTATION_GRACE if final else None)
            if push is None:
                return  # final, and nothing more arrived within the grace period
            if sub.lagged:  # the client fell far behind: re-read what it missed from Redis
                sub.clear()
                batch = await _job_history(aconn, job_id, last)
            else:
                batch = [push]


async def _global_pages(aconn: aioredis.Redis, after: str) -> AsyncIterator[list[Push]]:
    start = f"({after}"
    while True:
        entries = await aconn.xrange(keys.GLOBAL_STREAM, min=start, count=PAGE)
        if entries:
            yield [Push(parse(i, raw)) for i, raw in entries]
        if len(entries) < PAGE:
            return
        start = f"({entries[-1][0].decode()}"


async def firehose(
    broker: Broker,
    after: str | None = None,
    backlog: int = 0,
    match: Callable[[Event], bool] = lambda event: True,
) -> AsyncIterator[Push]:
    """Every job's events that ``match``: after ``after`` (or the newest ``backlog`` ones), then live, forever."""
    hub = await broker.hub()
    aconn = await broker.aio()
    with hub.subscribe(None) as sub:
        last = after or hub.position
        if after:
            async for page in _global_pages(aconn, after):
                for push in page:
                    last = push.event.id
                    if match(push.event):
                        yield push
        elif backlog:
            newest = await aconn.xrevrange(keys.GLOBAL_STREAM, count=backlog)
            pushes = [Push(parse(i, raw)) for i, raw in reversed(newest)]
            for push in pushes:
                if match(push.event):
                    yield push
            last = pushes[-1].event.id if pushes else last
        while True:
            push = await sub.next()
            if push is None:
                continue
            if sub.lagged:
                sub.clear()
                async for page in _global_pages(aconn, last):
                    for missed in page:
                        last = missed.event.id
                        if match(missed.event):
                            yield missed
                continue
            if id_key(push.event.id) <= id_key(last):
                continue
            last = push.event.id
            if match(push.event):
                yield push
