"""Server-Sent Events with resume: what a browser's ``EventSource`` does, for Python (sync and asyncio)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Container, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

from .protocol import RETRY_STATUSES, ApiError, Message, shutdown, socket_of

OpenStream = Callable[[str, dict[str, Any], dict[str, str], "float | None"], AbstractContextManager[EventSource]]
"""``(path, params, headers, read_timeout)`` -> an open SSE response (``httpx_sse.connect_sse``)."""
AsyncOpenStream = Callable[[str, dict[str, Any], dict[str, str], "float | None"], AbstractAsyncContextManager[EventSource]]


class _SseState:
    """What an SSE follow knows between connections: where to resume, and what happened so far."""

    def __init__(
        self,
        path: str,
        params: dict[str, Any],
        *,
        last_event_id: str | None = None,
        retry: float | None = None,
        default_retry: float = 3.0,
        read_timeout: float | None = None,
        retry_statuses: Container[int] = RETRY_STATUSES,
        resume_from_snapshot: bool = False,
        on_state: Callable[[str], None] | None = None,
    ) -> None:
        self.path, self.params = path, params
        self.last_event_id = last_event_id
        self.retry = retry
        self.server_retry: float | None = None
        self.default_retry = default_retry
        self.read_timeout = read_timeout
        self.retry_statuses = retry_statuses
        self.resume_from_snapshot = resume_from_snapshot
        self.on_state = on_state
        self.state = "idle"
        self.statuses: list[int] = []
        """The HTTP status of every (re)connection attempt."""
        self.errors: list[str] = []
        """``error`` messages from the server and transport errors, in order."""
        self.reconnects = 0
        self.done = False
        """The job's stream is over (its ``end`` message, or ``204``: nothing left to send)."""
        self.end: dict[str, Any] | None = None
        self._socket: socket.socket | None = None

    @property
    def connections(self) -> int:
        """How many connections were opened (``200``)."""
        return sum(1 for status in self.statuses if status == 200)

    @property
    def delay(self) -> float:
        """Seconds to wait before a reconnect: the fixed ``retry``, else the server's ``retry:`` hint."""
        if self.retry is not None:
            return self.retry
        return self.server_retry if self.server_retry is not None else self.default_retry

    def _set(self, state: str) -> None:
        self.state = state
        if self.on_state is not None:
            self.on_state(state)

    def _headers(self) -> dict[str, str]:
        return {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}

    def _take(self, sse: ServerSentEvent) -> Message | None:
        """One parsed SSE message, or None for a keep-alive ping (httpx-sse yields those with no data)."""
        if sse.retry:
            self.server_retry = sse.retry / 1000
        if not sse.data:
            return None
        received = time.time()
        data = json.loads(sse.data)
        if sse.event in {"snapshot", "end", "error"}:
            message = Message(sse.event, data, None, received)
            if sse.event == "snapshot" and self.resume_from_snapshot and self.last_event_id is None:
                self.last_event_id = data.get("last_event_id")  # the firehose goes on from where its snapshot stands
            elif sse.event == "end":
                self.done, self.end = True, data
            elif sse.event == "error":
                self.errors.append(str(data.get("error", data)))
            return message
        self.last_event_id = sse.id or self.last_event_id
        return Message("event", data, sse.id or None, received)

    def cut(self) -> bool:
        """Drop the current connection abruptly (a network fault); the follow reconnects by itself."""
        return shutdown(self._socket)


class SseFollow(_SseState):
    """An SSE stream that reconnects with ``Last-Event-ID`` (iterate it for :class:`Message` s).

    Like a browser's ``EventSource``: after a dropped line or an ``error``
    message it waits ``delay`` s and reconnects, and the server sends exactly
    the events after the last one received. A job's stream ends at its ``end``
    message or a ``204``; the firehose runs until :meth:`close`. A ``4xx``
    answer raises :class:`ApiError`; ``retry_statuses`` (``503``: the broker is
    down) are tried again. :meth:`close` and :meth:`cut` may be called from
    another thread.
    """

    def __init__(self, open_stream: OpenStream, path: str, params: dict[str, Any], **options: Any) -> None:
        super().__init__(path, params, **options)
        self._open = open_stream
        self._closed = threading.Event()

    def close(self) -> None:
        """Stop following: the iteration ends (no reconnect)."""
        self._closed.set()
        self.cut()

    def events(self) -> Iterator[Message]:
        """Only the lifecycle events."""
        return (message for message in self if message.type == "event")

    def __iter__(self) -> Iterator[Message]:
        while not self._closed.is_set():
            self._set("connecting" if not self.statuses else "reconnecting")
            try:
                with self._open(self.path, self.params, self._headers(), self.read_timeout) as source:
                    response = source.response
                    self.statuses.append(response.status_code)
                    if response.status_code == 204:  # over, and we have every event: stop, like EventSource
                        self.done = True
                        break
                    if response.status_code != 200:
                        response.read()
                        if response.status_code not in self.retry_statuses:
                            raise ApiError(response)
                    else:
                        self._socket = socket_of(response)
                        self._set("open")
                        for sse in source.iter_sse():
                            message = self._take(sse)
                            if message is None:
                                continue
                            yield message
                            if self.done or self._closed.is_set() or message.type == "error":
                                break
            except (httpx.TransportError, httpx.StreamError, OSError) as exc:
                if not self._closed.is_set():
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                self._socket = None
            if self.done or self._closed.is_set():
                break
            self.reconnects += 1
            self._set("reconnecting")
            if self._closed.wait(self.delay):
                break
        self._set("done" if self.done else "closed")


class AsyncSseFollow(_SseState):
    """:class:`SseFollow` for asyncio: ``async for message in follow``; :meth:`close` from the loop's thread."""

    def __init__(self, open_stream: AsyncOpenStream, path: str, params: dict[str, Any], **options: Any) -> None:
        super().__init__(path, params, **options)
        self._open = open_stream
        self._closed = asyncio.Event()

    def close(self) -> None:
        self._closed.set()
        self.cut()

    async def events(self) -> AsyncIterator[Message]:
        async for message in self:
            if message.type == "event":
                yield message

    async def _wait_closed(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), seconds)
        return self._closed.is_set()

    async def __aiter__(self) -> AsyncIterator[Message]:
        while not self._closed.is_set():
            self._set("connecting" if not self.statuses else "reconnecting")
            try:
                async with self._open(self.path, self.params, self._headers(), self.read_timeout) as source:
                    response = source.response
                    self.statuses.append(response.status_code)
                    if response.status_code == 204:
                        self.done = True
                        break
                    if response.status_code != 200:
                        await response.aread()
                        if response.status_code not in self.retry_statuses:
                            raise ApiError(response)
                    else:
                        self._socket = socket_of(response)
                        self._set("open")
                        async for sse in source.aiter_sse():
                            message = self._take(sse)
                            if message is None:
                                continue
                            yield message
                            if self.done or self._closed.is_set() or message.type == "error":
                                break
            except (httpx.TransportError, httpx.StreamError, OSError) as exc:
                if not self._closed.is_set():
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                self._socket = None
            if self.done or self._closed.is_set():
                break
            self.reconnects += 1
            self._set("reconnecting")
            if await self._wait_closed(self.delay):
                break
        self._set("done" if self.done else "closed")
