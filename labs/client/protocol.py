"""What the lab's API speaks, for its client: the messages, the errors, the address and credentials."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..states import is_terminal

RETRY_STATUSES = frozenset({502, 503, 504})
"""HTTP answers to an SSE (re)connect that mean "try again" (``503``: the broker is down)."""
CLOSE_NORMAL, CLOSE_BROKER_LOST, CLOSE_RESTART, CLOSE_TRY_LATER = 1000, 1011, 1012, 1013
"""WebSocket close codes after which redialling makes sense (besides a line that just dropped)."""


def hung_up_on_purpose(code: int | None) -> bool:
    """A close code by which the server refused the call for good: unknown job, bad request, no token (4xxx), policy."""
    return code is not None and (code >= 4000 or code == 1008)


class ApiError(httpx.HTTPStatusError):
    """The API answered with an error status; ``detail`` is its readable line."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.detail = detail(response)
        super().__init__(f"HTTP {self.status}: {self.detail}", request=response.request, response=response)


class HungUp(ConnectionError):
    """The server closed a WebSocket call on purpose (:func:`hung_up_on_purpose`): redialling would not help."""

    def __init__(self, code: int, reason: str) -> None:
        self.code, self.reason = code, reason
        super().__init__(f"closed by the server ({code}): {reason}")


def detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)[:200]


def checked(response: httpx.Response, *ok: int) -> httpx.Response:
    if response.status_code not in ok:
        response.read()
        raise ApiError(response)
    return response


@dataclass(frozen=True)
class Message:
    """One push message, parsed (see the module docs)."""

    type: str
    """``snapshot``, ``event``, ``end``, ``error``; on a WebSocket also ``heartbeat``, ``pong``, ``ack``."""
    data: dict[str, Any]
    """The payload: the job's view for ``snapshot``, ``Event.to_dict()`` for ``event``, the frame otherwise."""
    id: str | None = None
    """The event id (``event`` messages): what a resume starts after."""
    received: float = 0.0
    """``time.time()`` when the message was parsed."""

    @property
    def event(self) -> str:
        """The lifecycle event's name (``progress``, ``completed``, ...), or the message type."""
        return str(self.data.get("event", self.type)) if self.type == "event" else self.type


@dataclass(frozen=True)
class Poll:
    """One answer to ``GET /tasks/{id}``: ``200`` with the view and its ETag, or ``304`` (nothing changed)."""

    status: int
    etag: str | None
    view: dict[str, Any] | None
    received: float

    @property
    def changed(self) -> bool:
        return self.status == 200


def socket_of(response: httpx.Response) -> socket.socket | None:
    stream = response.extensions.get("network_stream")
    with contextlib.suppress(Exception):
        return stream.get_extra_info("socket") if stream is not None else None
    return None


def shutdown(sock: socket.socket | None) -> bool:
    """Drop a line abruptly, as a network fault would; False when there is none."""
    if sock is None:
        return False
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        return False
    return True


def is_final(view: Mapping[str, Any]) -> bool:
    return is_terminal(str(view.get("state", "")))


@dataclass
class Endpoint:
    """Where the API is and how to show the token (a header, or ``?token=`` as a browser must)."""

    base_url: str
    token: str | None = None
    token_in_query: bool = False
    timeout: float = 10.0

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")

    @property
    def ws_base(self) -> str:
        scheme, _, rest = self.base_url.partition("://")
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def headers(self) -> dict[str, str]:
        auth = {"Authorization": f"Bearer {self.token}"} if self.token and not self.token_in_query else {}
        return auth

    def params(self, **values: Any) -> dict[str, Any]:
        token = {"token": self.token} if self.token and self.token_in_query else {}
        return {**{name: value for name, value in values.items() if value is not None}, **token}

    def ws_url(self, job_id: str, after: str | None) -> str:
        query = str(httpx.QueryParams(self.params(after=after)))
        return f"{self.ws_base}/ws/tasks/{job_id}" + (f"?{query}" if query else "")

    def sse_timeout(self, read: float | None) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, read=read)


def job_body(
    task: str, params: Mapping[str, Any] | None, retry: Mapping[str, Any] | None, timeout: float | None
) -> dict[str, Any]:
    """The JSON of ``POST /tasks`` (``labs.api.models.SubmitRequest``)."""
    body: dict[str, Any] = {"task": task, "params": dict(params or {})}
    if retry is not None:
        body["retry"] = dict(retry)
    if timeout is not None:
        body["timeout"] = timeout
    return body


def poll_answer(response: httpx.Response, etag: str | None) -> Poll:
    """A :class:`Poll` from ``GET /tasks/{id}`` (``200`` or ``304``; anything else is an :class:`ApiError`)."""
    received = time.time()
    checked(response, 200, 304)
    if response.status_code == 304:
        return Poll(304, response.headers.get("ETag", etag), None, received)
    return Poll(200, response.headers.get("ETag"), response.json(), received)
