"""One client of the lab's own API, sync (:class:`LabClient`) and async (:class:`AsyncLabClient`).

It speaks exactly the protocol of ``labs.api`` (see ``labs/api/tasks.py``,
``polling.py``, ``stream.py`` and ``ws.py``), so the dashboard's channel page,
the testing kit and the benchmarks do not each hand-write it:

=====================  =========================================================================
``submit``             ``POST /tasks`` -> the job id; ``submit_batch``: ``POST /tasks/batch``
``get``                ``GET /tasks/{id}`` with ``If-None-Match``: a :class:`Poll` (``200`` or ``304``)
``poll``               ``get`` every ``interval`` s, yielding each changed view until the job is over
``cancel``             ``POST /tasks/{id}/cancel``
``follow``             SSE ``GET /tasks/{id}/stream`` (``follow_events``: ``GET /events``) that
                       reconnects by itself with ``Last-Event-ID``, as a browser's ``EventSource`` does
``connect_ws``         one ``WS /ws/tasks/{id}`` call (:class:`WsCall`): cancel, ping, resume, heartbeats
``follow_ws``          a WebSocket follow that redials with ``?after=`` after a dropped line
``join``               ``POST /students`` (classroom mode): the token is kept and sent from then on
=====================  =========================================================================

Every push message, SSE or WebSocket, is handed over as one :class:`Message`
(``type``: ``snapshot``, ``event``, ``end``, ``error``, and on a WebSocket also
``heartbeat``, ``pong``, ``ack``); SSE keep-alive pings never are. ``received``
is the moment it was parsed, so a caller can measure delivery delay
(``received - data["ts"]``). In classroom mode give ``token=``: it goes in
``Authorization: Bearer`` (or as ``?token=`` with ``token_in_query=True``, as a
browser's ``EventSource`` must).

The package: ``clients`` (the two clients), ``sse`` (:class:`SseFollow`),
``ws`` (:class:`WsCall`, :class:`Heartbeat`, :class:`WsFollow`), ``protocol`` (messages, errors,
the address and token). A service: it imports nothing of ``labs.api`` or
``labs.dashboard``, only the states from the core.

    from labs.client import LabClient

    with LabClient("http://127.0.0.1:8000") as api:
        job_id = api.submit("slow_task", {"steps": 5})
        for message in api.follow(job_id).events():
            print(message.event, message.data["state"])
"""

from __future__ import annotations

from .clients import AsyncLabClient, LabClient
from .protocol import (
    CLOSE_BROKER_LOST,
    CLOSE_NORMAL,
    CLOSE_RESTART,
    CLOSE_TRY_LATER,
    RETRY_STATUSES,
    ApiError,
    HungUp,
    Message,
    Poll,
    hung_up_on_purpose,
)
from .sse import AsyncSseFollow, SseFollow
from .ws import AsyncWsCall, AsyncWsFollow, Heartbeat, WsCall, WsFollow

__all__ = [
    "CLOSE_BROKER_LOST",
    "CLOSE_NORMAL",
    "CLOSE_RESTART",
    "CLOSE_TRY_LATER",
    "RETRY_STATUSES",
    "ApiError",
    "AsyncLabClient",
    "AsyncSseFollow",
    "AsyncWsCall",
    "AsyncWsFollow",
    "Heartbeat",
    "HungUp",
    "LabClient",
    "Message",
    "Poll",
    "SseFollow",
    "WsCall",
    "WsFollow",
    "hung_up_on_purpose",
]
