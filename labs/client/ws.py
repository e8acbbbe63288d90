"""WebSocket calls about one job (电话通话), a client heartbeat, and a follow that redials and resumes (sync and asyncio)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

from websockets.asyncio.client import ClientConnection as AsyncConnection
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake
from websockets.sync.client import ClientConnection

from .protocol import HungUp, Message, hung_up_on_purpose, shutdown

Connect = Callable[..., AbstractContextManager["WsCall"]]
"""``(job_id, after=..., **websocket options)`` -> an open :class:`WsCall` (``LabClient.connect_ws``)."""
AsyncConnect = Callable[..., AbstractAsyncContextManager["AsyncWsCall"]]


class _WsState:
    """What a WebSocket call has heard: the last event, heartbeats, the answer to the last ping."""

    def __init__(self) -> None:
        self.last_event_id: str | None = None
        self.heartbeats = 0
        self.last_heard = 0.0
        """``time.time()`` of the last frame of any kind (a heartbeat says the line is alive)."""
        self.round_trip: float | None = None
        """Seconds from the last ``ping`` to its ``pong``."""
        self.done = False
        self.end: dict[str, Any] | None = None

    def _take(self, raw: str | bytes) -> Message:
        received = time.time()
        self.last_heard = received
        frame = json.loads(raw)
        kind = str(frame.get("type", ""))
        if kind == "snapshot":
            return Message(kind, dict(frame.get("job") or {}), None, received)
        data = {name: value for name, value in frame.items() if name != "type"}
        if kind == "event":
            self.last_event_id = str(data.get("id") or "") or self.last_event_id
            return Message(kind, data, data.get("id"), received)
        if kind == "heartbeat":
            self.heartbeats += 1
        elif kind == "pong" and isinstance(data.get("echo"), int | float):
            self.round_trip = received - float(data["echo"])
        elif kind == "end":
            self.done, self.end = True, data
        return Message(kind, data, None, received)

    @staticmethod
    def _action(action: str, **fields: Any) -> str:
        return json.dumps({"action": action, **fields})


class WsCall(_WsState):
    """One ``WS /ws/tasks/{id}`` call (a phone call: 电话通话); iterate it for :class:`Message` s until ``end``.

    The line works both ways: :meth:`cancel`, :meth:`ping`, :meth:`resume`.
    A close by the server raises websockets' ``ConnectionClosedError`` with
    the code (see ``labs/api/ws.py``); ``close_code`` / ``close_reason`` keep it.
    """

    def __init__(self, ws: ClientConnection) -> None:
        super().__init__()
        self.ws = ws

    def recv(self, timeout: float | None = None) -> Message:
        """The next frame; TimeoutError after ``timeout`` s of silence (the line stays open)."""
        return self._take(self.ws.recv(timeout=timeout))

    def __iter__(self) -> Iterator[Message]:
        while not self.done:
            try:
                message = self.recv()
            except ConnectionClosedOK:
                return
            yield message

    def send(self, message: Mapping[str, Any]) -> None:
        self.ws.send(json.dumps(dict(message)))

    def cancel(self) -> None:
        """Ask the server to cancel the job (an ``ack`` frame answers, then the job's ``cancelled`` event)."""
        self.ws.send(self._action("cancel"))

    def ping(self) -> None:
        """An application ping; its ``pong`` sets ``round_trip``."""
        self.ws.send(self._action("ping", ts=time.time()))

    def resume(self, after: str) -> None:
        """Ask the server to send again every event after ``after`` (an ``ack``, then the events)."""
        self.ws.send(self._action("resume", after=after))

    def cut(self) -> bool:
        """Drop the line abruptly (a network fault)."""
        return shutdown(self.ws.socket)

    def close(self) -> None:
        self.ws.close()

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    @property
    def close_reason(self) -> str | None:
        return self.ws.close_reason


class Heartbeat:
    """A client heartbeat (心跳：“喂？还在吗？”): ``ping`` every ``interval`` s; ``missed`` unanswered in a row: dead line.

    Why: a half-open line (nothing passes, yet no close ever comes) is as silent as a quiet
    job, and the socket reports neither an error nor a close; only a question that gets no
    answer tells the two apart. It is the application's ``ping`` (answered by ``pong``),
    because a browser's ``WebSocket`` cannot send protocol pings. A dead line is dropped
    with :meth:`WsCall.cut` (a goodbye would not be heard either).
    """

    def __init__(self, call: WsCall, interval: float, missed: int = 2) -> None:
        self.call, self.interval, self.missed = call, interval, missed
        self.log: list[str] = []
        """What happened, in order: ``ping``, ``pong``, ``missed``, then ``dead`` or ``end``."""
        self.dead_at: float | None = None
        """``time.monotonic()`` when the line was declared dead."""

    def run(self) -> bool:
        """Listen and ping until the call ends (False) or the line is found dead (True)."""
        in_a_row = 0
        while True:
            self.call.ping()
            self.log.append("ping")
            answered = self._listen(time.monotonic() + self.interval)
            if self.call.done:
                self.log.append("end")
                return False
            if answered:
                in_a_row = 0
                continue
            in_a_row += 1
            self.log.append("missed")
            if in_a_row == self.missed:
                self.dead_at = time.monotonic()
                self.log.append("dead")
                self.call.cut()
                return True

    def _listen(self, until: float) -> bool:
        """Take every frame until ``until`` (or the end); whether a ``pong`` came."""
        answered = False
        while not self.call.done and (left := until - time.monotonic()) > 0:
            try:
                message = self.call.recv(timeout=left)
            except TimeoutError:
                break
            if message.type == "pong":
                answered = True
                self.log.append("pong")
        return answered


class AsyncWsCall(_WsState):
    """:class:`WsCall` for asyncio."""

    def __init__(self, ws: AsyncConnection) -> None:
        super().__init__()
        self.ws = ws

    async def recv(self, timeout: float | None = None) -> Message:
        return self._take(await asyncio.wait_for(self.ws.recv(), timeout) if timeout is not None else await self.ws.recv())

    async def __aiter__(self) -> AsyncIterator[Message]:
        while not self.done:
            try:
                message = await self.recv()
            except ConnectionClosedOK:
                return
            yield message

    async def send(self, message: Mapping[str, Any]) -> None:
        await self.ws.send(json.dumps(dict(message)))

    async def cancel(self) -> None:
        await self.ws.send(self._action("cancel"))

    async def ping(self) -> None:
        await self.ws.send(self._action("ping", ts=time.time()))

    async def resume(self, after: str) -> None:
        await self.ws.send(self._action("resume", after=after))

    def cut(self) -> bool:
        if self.ws.transport is None or self.ws.transport.is_closing():
            return False
        self.ws.transport.abort()
        return True

    async def close(self) -> None:
        await self.ws.close()

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    @property
    def close_reason(self) -> str | None:
        return self.ws.close_reason


class _WsFollowState:
    """A WebSocket follow across calls: where to resume, the backoff, what was heard."""

    def __init__(
        self, job_id: str, after: str | None, base: float, cap: float, max_reconnects: int | None, dead_after: float | None
    ) -> None:
        self.job_id = job_id
        self.last_event_id = after
        self.base, self.cap, self.max_reconnects = base, cap, max_reconnects
        self.dead_after = dead_after
        self.reconnects = 0
        self.failures = 0
        """Failed connections in a row (the backoff exponent); an event resets it."""
        self.heartbeats = 0
        self.errors: list[str] = []
        self.done = False
        self.end: dict[str, Any] | None = None
        self.closed = False

    def _heard(self, message: Message) -> None:
        if message.type == "event":
            self.last_event_id, self.failures = message.id, 0
        elif message.type == "heartbeat":
            self.heartbeats += 1
        elif message.type == "error":
            self.errors.append(str(message.data.get("error", "")))
        elif message.type == "end":
            self.done, self.end = True, message.data

    def _dropped(self, exc: BaseException) -> float:
        """After a lost line: raise if redialling is pointless, else the seconds to wait first."""
        if isinstance(exc, ConnectionClosed):
            code = exc.rcvd.code if exc.rcvd is not None else None
            if hung_up_on_purpose(code):
                reason = exc.rcvd.reason if exc.rcvd is not None else ""
                raise HungUp(int(code or 0), reason or (self.errors[-1] if self.errors else "")) from None
        self.errors.append(f"{type(exc).__name__}: {exc}")
        if self.max_reconnects is not None and self.reconnects >= self.max_reconnects:
            raise ConnectionError(f"gave up after {self.reconnects} redials: {exc}") from exc
        wait = min(self.cap, self.base * 2**self.failures)
        self.failures += 1
        self.reconnects += 1
        return wait


_DROPS = (OSError, TimeoutError, ConnectionClosed, InvalidHandshake)


class WsFollow(_WsFollowState):
    """Follow one job over WebSocket and redial after a dropped line, resuming with ``?after=<last event id>``.

    Iterate it for :class:`Message` s until ``end``. The waits between redials
    grow as ``min(cap, base * 2 ** n)`` over ``n`` failures in a row; an
    event resets ``n``. With ``dead_after`` a line silent that long (no event,
    no heartbeat) counts as dropped. A close on purpose (unknown job, bad
    request, no token) raises :class:`HungUp`. :meth:`cancel` works on the live call.
    """

    def __init__(
        self,
        connect: Connect,
        job_id: str,
        after: str | None = None,
        *,
        base: float = 0.5,
        cap: float = 8.0,
        max_reconnects: int | None = None,
        dead_after: float | None = None,
        **ws_options: Any,
    ) -> None:
        super().__init__(job_id, after, base, cap, max_reconnects, dead_after)
        self._connect = connect
        self._ws_options = ws_options
        self._stop = threading.Event()
        self.call: WsCall | None = None

    def __iter__(self) -> Iterator[Message]:
        while not (self.done or self._stop.is_set()):
            try:
                with self._connect(self.job_id, after=self.last_event_id, **self._ws_options) as call:
                    self.call = call
                    while not call.done:
                        message = call.recv(timeout=self.dead_after)
                        self._heard(message)
                        yield message
            except _DROPS as exc:
                if self._stop.is_set():
                    break
                if self._stop.wait(self._dropped(exc)):
                    break
            finally:
                self.call = None
        self.closed = True

    def cancel(self) -> bool:
        """Cancel the job over the live call; False when no call is up."""
        call = self.call
        if call is None:
            return False
        call.cancel()
        return True

    def ping(self) -> bool:
        call = self.call
        if call is None:
            return False
        call.ping()
        return True

    def cut(self) -> bool:
        call = self.call
        return call.cut() if call is not None else False

    def close(self) -> None:
        """Stop following (from any thread): the iteration ends, no redial."""
        self._stop.set()
        call = self.call
        if call is not None:
            with contextlib.suppress(Exception):
                call.close()


class AsyncWsFollow(_WsFollowState):
    """:class:`WsFollow` for asyncio."""

    def __init__(
        self,
        connect: AsyncConnect,
        job_id: str,
        after: str | None = None,
        *,
        base: float = 0.5,
        cap: float = 8.0,
        max_reconnects: int | None = None,
        dead_after: float | None = None,
        **ws_options: Any,
    ) -> None:
        super().__init__(job_id, after, base, cap, max_reconnects, dead_after)
        self._connect = connect
        self._ws_options = ws_options
        self._stop = asyncio.Event()
        self.call: AsyncWsCall | None = None

    async def __aiter__(self) -> AsyncIterator[Message]:
        while not (self.done or self._stop.is_set()):
            try:
                async with self._connect(self.job_id, after=self.last_event_id, **self._ws_options) as call:
                    self.call = call
                    while not call.done:
                        message = await call.recv(timeout=self.dead_after)
                        self._heard(message)
                        yield message
            except _DROPS as exc:
                if self._stop.is_set():
                    break
                wait = self._dropped(exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), wait)
            finally:
                self.call = None
        self.closed = True

    async def cancel(self) -> bool:
        call = self.call
        if call is None:
            return False
        await call.cancel()
        return True

    async def ping(self) -> bool:
        call = self.call
        if call is None:
            return False
        await call.ping()
        return True

    def cut(self) -> bool:
        call = self.call
        return call.cut() if call is not None else False

    async def close(self) -> None:
        self._stop.set()
        call = self.call
        if call is not None:
            with contextlib.suppress(Exception):
                await call.close()
