"""The lab's API from Python: :class:`LabClient` (blocking) and :class:`AsyncLabClient` (asyncio)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx
from httpx_sse import aconnect_sse, connect_sse
from websockets.asyncio.client import connect as aws_connect
from websockets.sync.client import connect as ws_connect

from .protocol import Endpoint, Poll, checked, is_final, job_body, poll_answer
from .sse import AsyncSseFollow, SseFollow
from .ws import AsyncWsCall, AsyncWsFollow, WsCall, WsFollow


class LabClient:
    """The lab's API from Python, blocking (see the module docs); a context manager.

    ``http`` lends it an ``httpx.Client`` of your own (its pool, limits,
    transport; e.g. a Starlette ``TestClient``); otherwise it makes one.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        token_in_query: bool = False,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
    ) -> None:
        self.endpoint = Endpoint(base_url, token, token_in_query, timeout)
        self._own = http is None
        self.http = http if http is not None else httpx.Client(timeout=timeout)

    @property
    def base_url(self) -> str:
        return self.endpoint.base_url

    @property
    def token(self) -> str | None:
        return self.endpoint.token

    def close(self) -> None:
        if self._own:
            self.http.close()

    def __enter__(self) -> LabClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        s = self.endpoint
        return self.http.request(
            method,
            s.url(path),
            headers={**s.headers(), **kwargs.pop("headers", {})},
            params=s.params(**kwargs.pop("params", {})),
            **kwargs,
        )

    # -- REST --------------------------------------------------------------------
    def health(self, timeout: float | None = None) -> dict[str, Any]:
        """``GET /health`` (``200`` or ``503``: the API runs, the broker may be down)."""
        return checked(self._request("GET", "/health", timeout=timeout or self.endpoint.timeout), 200, 503).json()

    def alive(self, timeout: float = 1.0) -> bool:
        """True when the API answers ``GET /health`` at all (even with 503)."""
        try:
            self._request("GET", "/health", timeout=timeout)
        except httpx.HTTPError:
            return False
        return True

    def catalogue(self) -> list[dict[str, Any]]:
        return checked(self._request("GET", "/catalogue"), 200).json()

    def submit(
        self,
        task: str,
        params: Mapping[str, Any] | None = None,
        *,
        retry: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> str:
        """``POST /tasks``: the new job's id (:class:`ApiError` with the API's detail if refused)."""
        response = self._request("POST", "/tasks", json=job_body(task, params, retry, timeout))
        return str(checked(response, 202).json()["id"])

    def submit_batch(self, jobs: list[dict[str, Any]]) -> list[str]:
        """``POST /tasks/batch``: all checked first, then all submitted; their ids in order."""
        response = self._request("POST", "/tasks/batch", json={"jobs": jobs})
        return [str(job["id"]) for job in checked(response, 202).json()["jobs"]]

    def get(self, job_id: str, etag: str | None = None, *, events: bool = True) -> Poll:
        """``GET /tasks/{id}``; with the ``etag`` of the last answer, ``304`` while nothing changed."""
        headers = {"If-None-Match": etag} if etag else {}
        response = self._request("GET", f"/tasks/{job_id}", headers=headers, params={"events": None if events else "false"})
        return poll_answer(response, etag)

    def poll(self, job_id: str, interval: float = 1.0, *, events: bool = True, settle: bool = True) -> Iterator[dict[str, Any]]:
        """Every changed view of the job (ETag polling) until it is over.

        With ``settle``, one more look after the final state: the
        ``dead_lettered`` note follows a failure a moment later.
        """
        etag: str | None = None
        final = False
        while True:
            answer = self.get(job_id, etag, events=events)
            if answer.view is not None:
                etag = answer.etag
                yield answer.view
                if is_final(answer.view):
                    if final or not settle:
                        return
                    final = True
            elif final:
                return
            time.sleep(interval)

    def cancel(self, job_id: str) -> dict[str, Any]:
        """``POST /tasks/{id}/cancel`` (``ApiError`` 409 if the job has already finished)."""
        return checked(self._request("POST", f"/tasks/{job_id}/cancel"), 202).json()

    def join(self, name: str) -> str:
        """Classroom mode: join as ``name``; the token is returned and used for every later request."""
        token = str(checked(self._request("POST", "/students", json={"name": name}), 201).json()["token"])
        self.endpoint.token = token
        return token

    # -- SSE ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _sse(self, path: str, params: dict[str, Any], headers: dict[str, str], read_timeout: float | None) -> Iterator[Any]:
        s = self.endpoint
        with connect_sse(
            self.http,
            "GET",
            s.url(path),
            params=s.params(**params),
            headers={**s.headers(), **headers},
            timeout=s.sse_timeout(read_timeout),
        ) as source:
            yield source

    def follow(self, job_id: str, last_event_id: str | None = None, **options: Any) -> SseFollow:
        """Follow a job over SSE (``GET /tasks/{id}/stream``), resuming with ``Last-Event-ID`` (see :class:`SseFollow`).

        Options: ``retry`` (a fixed wait before reconnecting instead of the
        server's hint), ``default_retry`` (the wait until the server gave one),
        ``read_timeout`` (s of silence that count as a dead line; the server
        pings every 15 demo s), ``retry_statuses``, ``on_state`` (called with
        ``connecting`` / ``open`` / ``reconnecting`` / ``done`` / ``closed``).
        """
        return SseFollow(self._sse, f"/tasks/{job_id}/stream", {}, last_event_id=last_event_id, **options)

    def follow_events(
        self,
        *,
        task: str | None = None,
        state: str | None = None,
        backlog: int = 0,
        last_event_id: str | None = None,
        **options: Any,
    ) -> SseFollow:
        """Every job's events (``GET /events``, the firehose), resuming with ``Last-Event-ID``; runs until closed."""
        params = {"task": task, "state": state, "backlog": backlog or None}
        return SseFollow(self._sse, "/events", params, last_event_id=last_event_id, resume_from_snapshot=not backlog, **options)

    # -- WebSocket ---------------------------------------------------------------
    @contextlib.contextmanager
    def connect_ws(self, job_id: str, after: str | None = None, **options: Any) -> Iterator[WsCall]:
        """One WebSocket call about the job (``?after=`` resumes after that event); closed at the block's end.

        ``options`` go to ``websockets.sync.client.connect`` (``open_timeout``, ``max_queue``, ...).
        """
        options = {"open_timeout": self.endpoint.timeout, "close_timeout": 1, **options}
        headers = {**self.endpoint.headers(), **dict(options.pop("additional_headers", None) or {})}
        with ws_connect(self.endpoint.ws_url(job_id, after), additional_headers=headers or None, **options) as ws:
            yield WsCall(ws)

    def follow_ws(self, job_id: str, after: str | None = None, **options: Any) -> WsFollow:
        """Follow a job over WebSocket, redialling after a drop (see :class:`WsFollow`)."""
        return WsFollow(self.connect_ws, job_id, after, **options)


class AsyncLabClient:
    """:class:`LabClient` for asyncio (``http``: an ``httpx.AsyncClient`` of your own)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        token_in_query: bool = False,
        timeout: float = 10.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.endpoint = Endpoint(base_url, token, token_in_query, timeout)
        self._own = http is None
        self.http = http if http is not None else httpx.AsyncClient(timeout=timeout)

    @property
    def base_url(self) -> str:
        return self.endpoint.base_url

    async def aclose(self) -> None:
        if self._own:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncLabClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        s = self.endpoint
        return await self.http.request(
            method,
            s.url(path),
            headers={**s.headers(), **kwargs.pop("headers", {})},
            params=s.params(**kwargs.pop("params", {})),
            **kwargs,
        )

    async def health(self, timeout: float | None = None) -> dict[str, Any]:
        return checked(await self._request("GET", "/health", timeout=timeout or self.endpoint.timeout), 200, 503).json()

    async def submit(
        self,
        task: str,
        params: Mapping[str, Any] | None = None,
        *,
        retry: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> str:
        response = await self._request("POST", "/tasks", json=job_body(task, params, retry, timeout))
        return str(checked(response, 202).json()["id"])

    async def submit_batch(self, jobs: list[dict[str, Any]]) -> list[str]:
        response = await self._request("POST", "/tasks/batch", json={"jobs": jobs})
        return [str(job["id"]) for job in checked(response, 202).json()["jobs"]]

    async def get(self, job_id: str, etag: str | None = None, *, events: bool = True) -> Poll:
        headers = {"If-None-Match": etag} if etag else {}
        params = {"events": None if events else "false"}
        return poll_answer(await self._request("GET", f"/tasks/{job_id}", headers=headers, params=params), etag)

    async def poll(
        self, job_id: str, interval: float = 1.0, *, events: bool = True, settle: bool = True
    ) -> AsyncIterator[dict[str, Any]]:
        etag: str | None = None
        final = False
        while True:
            answer = await self.get(job_id, etag, events=events)
            if answer.view is not None:
                etag = answer.etag
                yield answer.view
                if is_final(answer.view):
                    if final or not settle:
                        return
                    final = True
            elif final:
                return
            await asyncio.sleep(interval)

    async def cancel(self, job_id: str) -> dict[str, Any]:
        return checked(await self._request("POST", f"/tasks/{job_id}/cancel"), 202).json()

    async def join(self, name: str) -> str:
        token = str(checked(await self._request("POST", "/students", json={"name": name}), 201).json()["token"])
        self.endpoint.token = token
        return token

    @contextlib.asynccontextmanager
    async def _sse(
        self, path: str, params: dict[str, Any], headers: dict[str, str], read_timeout: float | None
    ) -> AsyncIterator[Any]:
        s = self.endpoint
        async with aconnect_sse(
            self.http,
            "GET",
            s.url(path),
            params=s.params(**params),
            headers={**s.headers(), **headers},
            timeout=s.sse_timeout(read_timeout),
        ) as source:
            yield source

    def follow(self, job_id: str, last_event_id: str | None = None, **options: Any) -> AsyncSseFollow:
        return AsyncSseFollow(self._sse, f"/tasks/{job_id}/stream", {}, last_event_id=last_event_id, **options)

    def follow_events(
        self,
        *,
        task: str | None = None,
        state: str | None = None,
        backlog: int = 0,
        last_event_id: str | None = None,
        **options: Any,
    ) -> AsyncSseFollow:
        params = {"task": task, "state": state, "backlog": backlog or None}
        return AsyncSseFollow(
            self._sse, "/events", params, last_event_id=last_event_id, resume_from_snapshot=not backlog, **options
        )

    @contextlib.asynccontextmanager
    async def connect_ws(self, job_id: str, after: str | None = None, **options: Any) -> AsyncIterator[AsyncWsCall]:
        options = {"open_timeout": self.endpoint.timeout, "close_timeout": 1, **options}
        headers = {**self.endpoint.headers(), **dict(options.pop("additional_headers", None) or {})}
        async with aws_connect(self.endpoint.ws_url(job_id, after), additional_headers=headers or None, **options) as ws:
            yield AsyncWsCall(ws)

    def follow_ws(self, job_id: str, after: str | None = None, **options: Any) -> AsyncWsFollow:
        return AsyncWsFollow(self.connect_ws, job_id, after, **options)
