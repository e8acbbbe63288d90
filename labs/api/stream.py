"""Server-Sent Events (类比3: SSE = 广播电台 / a radio broadcast): the server talks, the client listens.

``GET /tasks/{id}/stream``: one job, until its final state. The messages::

    event: snapshot        retry: <ms>     data: the job's view without its events list (no id: line)
    id: <event id>  event: <type>          data: Event.to_dict() as JSON, one message per lifecycle event:
                                                 enqueued, started, progress, retry_scheduled, timed_out,
                                                 abandoned, completed, failed, cancelled, dead_lettered, ...
    event: end                             data: {"state", "last_event_id"}; then the server closes
    event: error                           data: {"error"}: the broker was lost; then the server closes
    : ping - <time>                        a comment every few seconds keeps proxies from closing the line

Without ``Last-Event-ID`` the job's whole history is sent first, then new
events as they happen. A reconnecting ``EventSource`` sends the id of the last
event it got in ``Last-Event-ID`` (a manual reconnect may use
``?last_event_id=``) and receives exactly the events after it: no gap, no
duplicate. If the job had already ended and nothing is left to send, the
answer is ``204 No Content``, which tells a browser to stop reconnecting.

``GET /events``: every job's events (the dashboard's firehose), without end;
``?task=`` and ``?state=`` filter, ``?backlog=N`` starts with the newest N
events, ``Last-Event-ID`` resumes; its ``snapshot`` is ``{"counts", "last_event_id"}``
and its ``id:`` lines are global-stream ids (the same ids as the per-job ones).

In the browser (``onmessage`` only sees messages without an ``event:`` line,
so listen by type)::

    const es = new EventSource(`/tasks/${id}/stream`);
    es.addEventListener("progress", (e) => { bar.value = JSON.parse(e.data).progress.percent; });
    es.addEventListener("end", () => es.close());
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response
from redis.exceptions import RedisError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from .. import events, jobs, students
from ..catalogue import get_spec
from ..clock import scaled
from ..errors import BrokerUnavailable
from ..events import EVENT_TYPES, Event
from ..states import is_terminal
from .connections import Broker, get_broker
from .feed import firehose, job_feed
from .hub import BrokerLost, check_event_id, dumps, id_key
from .models import EVENT_ID_PATTERN, TASK_NAMES, ErrorOut, JobIdParam, StateName
from .students import Viewer, get_viewer

router = APIRouter(tags=["push: Server-Sent Events"])

SEND_TIMEOUT = 30.0
"""Seconds one message may take to leave; a client that stops reading is dropped."""


def message(event: dict[str, Any], model: str, *, with_id: bool = False, retry: bool = False) -> dict[str, Any]:
    """One SSE message as schemathesis and a careful client read it: ``event``, ``data`` (JSON of ``model``), ``id``."""
    properties: dict[str, Any] = {
        "event": event,
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": f"#/components/schemas/{model}"},
        },
        "id": {"type": "string", "pattern": r"^\d+-\d+$", "description": "the event id (Last-Event-ID)"},
    }
    if retry:
        properties["retry"] = {"type": "integer", "minimum": 0, "description": "ms a browser waits to reconnect"}
    required = ["event", "data", "id"] if with_id else ["event", "data"]
    return {"type": "object", "title": model, "properties": properties, "required": required}


LIFECYCLE = message({"enum": list(EVENT_TYPES)}, "EventOut", with_id=True)
"""A lifecycle event: ``event:`` its type, ``id:`` its stream id, ``data:`` ``Event.to_dict()``."""
LOST = message({"const": "error"}, "StreamError")


def stream_response(description: str, *messages: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": f"{description} (text/event-stream; `: ping` comments keep the line open)",
        "content": {"text/event-stream": {"schema": {"oneOf": list(messages)}}},
    }


JOB_STREAM = stream_response(
    "snapshot (the job without its events), then each lifecycle event, then end; error if the broker is lost",
    message({"const": "snapshot"}, "TaskView", retry=True),
    LIFECYCLE,
    message({"const": "end"}, "StreamEnd"),
    LOST,
)
FIREHOSE = stream_response(
    "snapshot (counts per state), then every matching event, without end; error if the broker is lost",
    message({"const": "snapshot"}, "FirehoseSnapshot", retry=True),
    LIFECYCLE,
    LOST,
)
BAD_RESUME = {422: {"model": ErrorOut, "description": "a bad filter or Last-Event-ID"}}
JOB_STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: JOB_STREAM,
    **BAD_RESUME,
    204: {"description": "the job ended and you have every event: EventSource stops reconnecting"},
    404: {"model": ErrorOut, "description": "no such job (answered at once, before any stream)"},
}
LAST_EVENT_ID = "resume after this event id (for a manual reconnect)"


def ping_seconds() -> float:
    """Keep-alive interval: 15 demo seconds, scaled, but never below 0.1 s."""
    return max(0.1, scaled(15))


def retry_ms() -> int:
    """The ``retry:`` hint: how long a browser waits before reconnecting (3 demo seconds, >= 100 ms)."""
    return max(100, round(scaled(3) * 1000))


def resume_point(header: str | None, query: str | None) -> str | None:
    """Where to resume: the ``Last-Event-ID`` header, else ``?last_event_id=``; 422 if malformed."""
    try:
        return check_event_id(header) or check_event_id(query)
    except ValueError as exc:
        raise HTTPException(422, f"Last-Event-ID: {exc}") from None


async def _job_messages(broker: Broker, view: dict[str, Any], after: str | None) -> AsyncIterator[Any]:
    snapshot = {name: value for name, value in view.items() if name != "events"}
    yield ServerSentEvent(dumps(snapshot), event="snapshot", retry=retry_ms())
    last: Event | None = None
    try:
        async with aclosing(job_feed(broker, view["id"], after)) as feed:
            async for push in feed:
                yield push.sse
                last = push.event
    except (BrokerLost, BrokerUnavailable, RedisError) as exc:
        yield ServerSentEvent(dumps({"error": str(exc)}), event="error")
        return
    end = {"state": last.state if last else view["state"], "last_event_id": last.id if last else after}
    yield ServerSentEvent(dumps(end), event="end")


@router.get(
    "/tasks/{job_id}/stream",
    response_class=EventSourceResponse,
    summary="Follow one job with Server-Sent Events (the radio: 广播电台)",
    responses=JOB_STREAM_RESPONSES,
)
async def stream_task(
    job_id: JobIdParam,
    last_event_id: str | None = Query(None, description=LAST_EVENT_ID, pattern=EVENT_ID_PATTERN),
    last_event_id_header: str | None = Header(
        None, alias="Last-Event-ID", description="sent by EventSource on reconnect", pattern=EVENT_ID_PATTERN
    ),
    viewer: Viewer = Depends(get_viewer),
    broker: Broker = Depends(get_broker),
) -> Response:
    after = resume_point(last_event_id_header, last_event_id)
    conn = await run_in_threadpool(broker.sync)
    if not await run_in_threadpool(students.may_see, conn, viewer, job_id):
        raise jobs.UnknownJob(f"no job with id {job_id!r}")
    view = await run_in_threadpool(jobs.job_view, conn, job_id, with_events=False)  # UnknownJob -> 404
    newest = view.get("last_event_id")
    if after and is_terminal(view["state"]) and newest and id_key(newest) <= id_key(after):
        return Response(status_code=204)  # over, and the client has it all: EventSource stops here
    await broker.hub()  # BrokerUnavailable -> 503 before the stream starts
    return EventSourceResponse(_job_messages(broker, view, after), ping=ping_seconds(), send_timeout=SEND_TIMEOUT)


async def _firehose_messages(
    broker: Broker,
    snapshot: dict[str, Any],
    after: str | None,
    backlog: int,
    task: str | None,
    state: str | None,
    student: str | None = None,
) -> AsyncIterator[Any]:
    yield ServerSentEvent(dumps(snapshot), event="snapshot", retry=retry_ms())

    def match(event: Event) -> bool:
        return (
            (task is None or event.task == task)
            and (state is None or event.state == state)
            and (student is None or event.data.get("student") == student)
        )

    try:
        async with aclosing(firehose(broker, after=after, backlog=backlog, match=match)) as feed:
            async for push in feed:
                yield push.sse
    except (BrokerLost, BrokerUnavailable, RedisError) as exc:
        yield ServerSentEvent(dumps({"error": str(exc)}), event="error")


@router.get(
    "/events",
    response_class=EventSourceResponse,
    summary="Every job's events: the dashboard's firehose (SSE, never ends)",
    responses={200: FIREHOSE, **BAD_RESUME},
)
async def stream_events(
    task: str | None = Query(None, description="only events of this catalogue task", json_schema_extra={"enum": TASK_NAMES}),
    state: StateName | None = Query(None, description="only events that leave a job in this state"),
    backlog: int = Query(0, ge=0, le=1000, description="start with the newest N events"),
    last_event_id: str | None = Query(None, description=LAST_EVENT_ID, pattern=EVENT_ID_PATTERN),
    last_event_id_header: str | None = Header(
        None, alias="Last-Event-ID", description="sent by EventSource on reconnect", pattern=EVENT_ID_PATTERN
    ),
    viewer: Viewer = Depends(get_viewer),
    broker: Broker = Depends(get_broker),
) -> Response:
    if task is not None:
        get_spec(task)  # UnknownTask -> 422 with the catalogue
    after = resume_point(last_event_id_header, last_event_id)
    conn = await run_in_threadpool(broker.sync)
    snapshot = {
        "counts": await (
            run_in_threadpool(events.state_counts, conn)
            if viewer.student is None
            else run_in_threadpool(students.state_counts, conn, viewer.student)
        ),
        "last_event_id": await run_in_threadpool(events.last_global_id, conn),
    }
    if after is None and not backlog:
        after = snapshot["last_event_id"]  # continue exactly where the snapshot stands
    await broker.hub()
    return EventSourceResponse(
        _firehose_messages(broker, snapshot, after, backlog, task, state, viewer.student),
        ping=ping_seconds(),
        send_timeout=SEND_TIMEOUT,
    )
