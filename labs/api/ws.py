"""WebSocket (类比2: WebSocket = 电话通话 / a phone call): both sides talk on one line.

``WS /ws/tasks/{id}`` (``?after=<event id>`` resumes after that event).

Server -> client, one JSON text frame each, told apart by ``type``:

=============  ===============================================================
``snapshot``   ``{"type": "snapshot", "job": {...the job's view, no events...}}``, first
``event``      ``{"type": "event", ...Event.to_dict()...}``: ``id``, ``event``, ``state``, ``progress``, ...
``heartbeat``  ``{"type": "heartbeat", "ts"}`` every few seconds: "still on the line" (心跳)
``pong``       ``{"type": "pong", "ts", "echo"}``: the answer to a ping (``echo`` is the ping's ``ts``)
``ack``        ``{"type": "ack", "action": "cancel", "state"}`` or ``{"type": "ack", "action": "resume", "after"}``
``error``      ``{"type": "error", "error": "<one line>"}``: a bad message; the line stays open
``end``        ``{"type": "end", "state", "last_event_id"}``, then close code 1000 (normal)
=============  ===============================================================

Client -> server: ``{"action": "cancel"}``, ``{"action": "ping", "ts": <any>}``,
``{"action": "resume", "after": "<event id>"}`` (send again every event after it).

The events are the same ones, in the same order, as the SSE stream. The call
ends with close code 1000 after the job's final state (and the ``dead_lettered``
annotation, if any). Other close codes: 4404 unknown job, 4422 bad ``?after=``,
4401 no or unknown token in classroom mode (``?token=``), 1013 broker unavailable
(try again later), 1011 broker lost mid-call.

In the browser::

    const ws = new WebSocket(`ws://${location.host}/ws/tasks/${id}`);
    ws.onmessage = (m) => { const f = JSON.parse(m.data); if (f.type === "event") show(f); };
    cancelButton.onclick = () => ws.send(JSON.stringify({action: "cancel"}));
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from contextlib import aclosing
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from .. import jobs, students
from ..clock import scaled
from ..errors import BrokerUnavailable, LabError
from ..events import Event
from .connections import Broker
from .feed import job_feed
from .hub import BrokerLost, check_event_id, dumps
from .models import JOB_ID
from .students import ws_viewer

router = APIRouter()

ACTIONS = ("cancel", "ping", "resume")
CLOSE_NORMAL, CLOSE_BROKER_LOST, CLOSE_TRY_LATER = 1000, 1011, 1013
CLOSE_UNKNOWN_JOB, CLOSE_BAD_REQUEST = 4404, 4422
OUTBOX_LIMIT = 10_000


def heartbeat_seconds() -> float:
    """Heartbeat interval: 15 demo seconds, scaled, but never below 0.1 s."""
    return max(0.1, scaled(15))


async def stop(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has ended.

    One ``cancel()`` is not always enough: a cancellation that lands while redis-py's asyncio
    client reads a reply can be swallowed there, and the task then waits on for the next event
    (a ``resume`` sent right after connecting hung the call that way). So ask again until it ends.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.05)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()


class JobCall:
    """One phone call about one job: events out, commands in, a heartbeat, then hang up.

    Every outgoing frame goes through one queue (``outbox``) and one writer task,
    so frames from the event pump, the heartbeat and the replies never interleave,
    and a pump restarted by ``resume`` never cuts a frame in half.
    """

    def __init__(self, websocket: WebSocket, broker: Broker, job_id: str) -> None:
        self.ws = websocket
        self.broker = broker
        self.job_id = job_id
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue(maxsize=OUTBOX_LIMIT)
        self._pump: asyncio.Task[None] | None = None
        self.close_code = CLOSE_NORMAL

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.outbox.put(frame if isinstance(frame, str) else dumps(frame))

    async def error(self, message: str) -> None:
        await self.send({"type": "error", "error": message})

    async def hang_up(self, message: str, code: int) -> None:
        """Before the call really started: say why, then close."""
        with contextlib.suppress(Exception):
            await self.ws.send_text(dumps({"type": "error", "error": message}))
            await self.ws.close(code)

    async def run(self, after: str | None) -> None:
        try:
            if not re.fullmatch(JOB_ID, self.job_id):
                raise jobs.UnknownJob(f"no job with id {self.job_id[:60]!r}")
            conn = await run_in_threadpool(self.broker.sync)
            view = await run_in_threadpool(jobs.job_view, conn, self.job_id, with_events=False)
            await self.broker.hub()
        except jobs.UnknownJob as exc:
            return await self.hang_up(str(exc), CLOSE_UNKNOWN_JOB)
        except (BrokerUnavailable, RedisError) as exc:
            return await self.hang_up(f"broker unavailable: {exc}", CLOSE_TRY_LATER)
        view.pop("events", None)
        await self.send({"type": "snapshot", "job": view})
        self._pump = asyncio.create_task(self._send_events(after))
        writer = asyncio.create_task(self._write())
        listener = asyncio.create_task(self._listen())
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await asyncio.wait([writer, listener], return_when=asyncio.FIRST_COMPLETED)
        finally:
            tasks = [writer, listener, heartbeat, self._pump]
            await asyncio.gather(*(stop(task) for task in tasks if task is not None))
        if writer.done() and not writer.cancelled() and writer.exception() is None:
            with contextlib.suppress(Exception):  # the job is over: hang up normally
                await self.ws.close(self.close_code)

    async def _write(self) -> None:
        """The only task that writes to the socket; returns after the last frame (None)."""
        while (text := await self.outbox.get()) is not None:
            await self.ws.send_text(text)

    async def _send_events(self, after: str | None) -> None:
        last: Event | None = None
        try:
            async with aclosing(job_feed(self.broker, self.job_id, after)) as feed:
                async for push in feed:
                    await self.send(push.ws)
                    last = push.event
        except (BrokerLost, BrokerUnavailable, RedisError) as exc:
            await self.error(f"lost the broker: {exc}")
            self.close_code = CLOSE_BROKER_LOST
        else:
            await self.send({"type": "end", "state": last.state if last else None, "last_event_id": last.id if last else after})
        await self.outbox.put(None)  # hang up after the frames before it

    async def _heartbeat(self) -> None:
        interval = heartbeat_seconds()
        while True:
            await asyncio.sleep(interval)
            await self.send({"type": "heartbeat", "ts": time.time()})

    async def _listen(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await self.error('send text frames with JSON, e.g. {"action": "ping"}')
                continue
            await self.handle(text)

    async def handle(self, text: str) -> None:
        """Answer one client message; a bad one gets an error frame and the call goes on."""
        try:
            message = json.loads(text)
        except ValueError as exc:
            return await self.error(f'not JSON ({exc}); send e.g. {{"action": "ping"}}')
        if not isinstance(message, dict):
            return await self.error('a message is a JSON object such as {"action": "ping"}')
        action = message.get("action")
        if action == "ping":
            return await self.send({"type": "pong", "ts": time.time(), "echo": message.get("ts")})
        if action == "cancel":
            try:
                conn = await run_in_threadpool(self.broker.sync)
                state = await run_in_threadpool(jobs.cancel, conn, self.job_id)
            except (LabError, RedisError) as exc:
                return await self.error(f"cannot cancel: {exc}")
            return await self.send({"type": "ack", "action": "cancel", "state": state})
        if action == "resume":
            raw = message.get("after")
            try:
                if not isinstance(raw, str):
                    raise ValueError('e.g. {"action": "resume", "after": "1700000000000-0"}')
                after = check_event_id(raw)
            except ValueError as exc:
                return await self.error(f"resume needs 'after', the id of the last event you have: {exc}")
            return await self._restart(after)
        if action is None:
            return await self.error(f"a message needs an 'action': one of {', '.join(ACTIONS)}")
        return await self.error(f"unknown action {str(action)[:40]!r}; use one of: {', '.join(ACTIONS)}")

    async def _restart(self, after: str | None) -> None:
        """Send again every event after ``after`` (the client asked, so repeats are its choice)."""
        if self._pump is not None:
            if self._pump.done():
                return  # the job is over and the call is ending
            await stop(self._pump)
        await self.send({"type": "ack", "action": "resume", "after": after})
        self._pump = asyncio.create_task(self._send_events(after))


@router.websocket("/ws/tasks/{job_id}")
async def job_socket(websocket: WebSocket, job_id: str) -> None:
    """Follow and steer one job over a WebSocket (the phone call: 电话通话)."""
    await websocket.accept()
    call = JobCall(websocket, websocket.app.state.broker, job_id)
    viewer = await ws_viewer(websocket)
    if viewer is None:
        return
    if viewer.student is not None:
        conn = await run_in_threadpool(websocket.app.state.broker.sync)
        if not await run_in_threadpool(students.may_see, conn, viewer, job_id):
            return await call.hang_up(f"no job with id {job_id[:80]!r}", CLOSE_UNKNOWN_JOB)
    raw_after = websocket.query_params.get("after") or websocket.query_params.get("last_event_id")
    try:
        after = check_event_id(raw_after)
    except ValueError as exc:
        return await call.hang_up(f"after: {exc}", CLOSE_BAD_REQUEST)
    with contextlib.suppress(WebSocketDisconnect):
        await call.run(after)
