"""A radio whose signal the server can cut, to show EventSource's automatic reconnect (类比3: 广播电台).

A browser's ``EventSource`` reconnects by itself whenever its response ends,
and sends the id of the last event it got in the ``Last-Event-ID`` header. A
page cannot make that happen on its own: ``es.close()`` stops the EventSource
for good. So the playground listens through this pass-through:

``GET /playground/api/radio/tasks/{id}/stream?key=<k>`` runs the lab's real
``GET /tasks/{id}/stream`` inside this app (same headers, including
``Last-Event-ID``; same query string without ``key``) and relays its messages
unchanged, until ``POST /playground/api/radio/cut?key=<k>`` ends every open
response for that key between two messages: the signal drops, the browser
waits the stream's ``retry:`` time and reconnects with ``Last-Event-ID``.
``GET /playground/api/radio/log?key=<k>`` lists each connection with the
resume point the browser sent, so the page can show it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, defaultdict
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Header, Path, Query, Response
from starlette.types import Message, Receive, Scope, Send

from ..api.models import EVENT_ID_PATTERN, JOB_ID_PATTERN

router = APIRouter(prefix="/playground/api/radio", tags=["playground"])

MAX_KEYS = 500
KEY = Query(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="names this page's radio")

_switches: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
_log: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()


class SignalCut(Exception):
    """Raised inside the relayed stream when it tries to send after the cut."""


def _record(key: str, entry: dict[str, Any]) -> int:
    log = _log.pop(key, [])
    _log[key] = log
    while len(_log) > MAX_KEYS:
        _log.popitem(last=False)
    log.append({"connection": len(log) + 1, **entry, "t": time.time()})
    return len(log)


class Relay(Response):
    """Serve the lab's real stream for one job, until the key's switch is flipped."""

    def __init__(self, job_id: str, key: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.key = key

    def inner_scope(self, scope: Scope) -> Scope:
        path = f"/tasks/{self.job_id}/stream"
        query = [(name, value) for name, value in parse_qsl(scope.get("query_string", b"").decode()) if name != "key"]
        inner = {name: value for name, value in scope.items() if name not in {"route", "endpoint", "path_params"}}
        inner.update(path=path, raw_path=path.encode(), query_string=urlencode(query).encode())
        return inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cut = asyncio.Event()
        switch = _switches[self.key]
        switch.add(cut)
        started = finished = False

        async def relay(message: Message) -> None:
            nonlocal started, finished
            if cut.is_set():
                raise SignalCut  # the signal is gone: nothing more reaches the browser
            started = started or message["type"] == "http.response.start"
            finished = finished or (message["type"] == "http.response.body" and not message.get("more_body", False))
            await send(message)

        stream = asyncio.create_task(scope["app"](self.inner_scope(scope), receive, relay))
        flipped = asyncio.create_task(cut.wait())
        try:
            await asyncio.wait({stream, flipped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            flipped.cancel()
            switch.discard(cut)
            if not switch:
                _switches.pop(self.key, None)
        if not cut.is_set():
            return await stream  # the real stream ended by itself (or failed): nothing to add
        stream.cancel()
        with contextlib.suppress(asyncio.CancelledError, SignalCut):
            await stream
        if not started:  # cut before the first byte: answer an empty stream, which the browser retries too
            headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-store")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
        if not finished:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


@router.get(
    "/tasks/{job_id}/stream",
    summary="The real job stream, relayed until the server cuts it",
    openapi_extra={"x-relays": "GET /tasks/{job_id}/stream"},  # its answers are the real stream's (labs.api.contract)
)
async def radio_stream(
    job_id: Annotated[str, Path(pattern=JOB_ID_PATTERN, description="the job id")],
    key: str = KEY,
    last_event_id: str | None = Query(None, description="passed on to the real stream", pattern=EVENT_ID_PATTERN),
    last_event_id_header: str | None = Header(
        None, alias="Last-Event-ID", description="passed on to the real stream", pattern=EVENT_ID_PATTERN
    ),
) -> Response:
    _record(key, {"job_id": job_id, "last_event_id_header": last_event_id_header, "last_event_id_query": last_event_id})
    return Relay(job_id, key)


@router.post("/cut", summary="Drop the signal: end every open radio stream for `key`")
async def cut_signal(key: str = KEY) -> dict[str, Any]:
    switches = list(_switches.get(key, ()))
    for switch in switches:
        switch.set()
    return {"key": key, "cut": len(switches)}


@router.get("/log", summary="Every connection made for `key`, with the resume point the browser sent")
async def radio_log(key: str = KEY) -> dict[str, Any]:
    connections = list(_log.get(key, []))
    return {"key": key, "connections": connections, "count": len(connections)}
