"""REST: send a parcel, look it up, list them, call one off (类比1: 快递分拣中心).

==========================  ===========================================================
``GET  /catalogue``         the tasks that may be submitted, with their parameter schemas
``POST /tasks``             submit one -> ``202 {"id", "state", "links": {"self", "stream", "ws"}}``
``POST /tasks/batch``       ``{"jobs": [...]}``: all checked first, then all submitted
``GET  /tasks``             recent jobs, newest first (``?state=``, ``?task=``, ``?limit=``)
``GET  /tasks/{id}``        the job's view; ``ETag`` / ``If-None-Match`` -> ``304`` (polling.py)
``POST /tasks/{id}/cancel`` a pending job never runs, a running one is stopped -> ``202``
==========================  ===========================================================

Handlers are plain ``def``: FastAPI runs them in its threadpool, where the
lab core's blocking Redis calls belong.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response

from .. import events, jobs, keys, students
from ..catalogue import CATALOGUE, get_spec
from ..errors import InvalidParams
from ..i18n import task_titles
from ..states import is_terminal
from ..students import Viewer
from .admission import Gate, get_gate
from .connections import Broker, get_broker
from .models import (
    TASK_NAMES,
    BatchRequest,
    BatchSubmitted,
    CancelResult,
    CatalogueEntry,
    ErrorOut,
    JobIdParam,
    StateName,
    SubmitRequest,
    Submitted,
    TaskList,
    TaskSummary,
    TaskView,
    params_schema,
)
from .polling import job_etag, not_modified
from .students import get_viewer

router = APIRouter(tags=["tasks"])

NOT_FOUND = {404: {"model": ErrorOut, "description": "no such job"}}
LIST_SCAN_LIMIT = 10_000


def links(job_id: str) -> dict[str, str]:
    return {"self": f"/tasks/{job_id}", "stream": f"/tasks/{job_id}/stream", "ws": f"/ws/tasks/{job_id}"}


def submitted(conn: Any, job_id: str, redrive_of: str | None = None) -> dict[str, Any]:
    return {
        "id": job_id,
        "state": events.current_state(conn, job_id) or "pending",
        "links": links(job_id),
        "redrive_of": redrive_of,
    }


@router.get("/catalogue", response_model=list[CatalogueEntry], summary="The tasks you may submit")
def catalogue() -> list[dict[str, Any]]:
    return [
        {
            "name": spec.name,
            "title": task_titles(spec.name),
            "params": params_schema(spec.name),
            "retry": spec.retry.model_dump(),
            "timeout": spec.timeout,
        }
        for spec in CATALOGUE.values()
    ]


def check_params(items: list[SubmitRequest]) -> None:
    """Every parcel's params checked before any is sent (or counted against a limit): a bad one is a 422."""
    for index, item in enumerate(items):
        try:
            get_spec(item.task).validate(item.params)
        except InvalidParams as exc:
            raise InvalidParams(f"jobs[{index}]: {exc}" if len(items) > 1 else str(exc)) from None


def send(conn: Any, item: SubmitRequest, viewer: Viewer) -> str:
    """One checked, admitted parcel into its engine's queue, as the viewer's (the instructor's goes first)."""
    return jobs.submit(conn, item.task, item.params, retry=item.retry_dict(), timeout=item.timeout, student=viewer.student,
                       engine=item.engine, priority=viewer.instructor)  # fmt: skip


@router.post("/tasks", status_code=202, response_model=Submitted, summary="Submit a catalogue task (寄快递)")
def submit_task(
    body: SubmitRequest,
    response: Response,
    viewer: Viewer = Depends(get_viewer),
    gate: Gate = Depends(get_gate),
    broker: Broker = Depends(get_broker),
) -> dict[str, Any]:
    check_params([body])
    conn = broker.sync()
    with gate.admit(conn) as ticket:
        job_id = send(conn, body, viewer)
        ticket.bind([job_id])
    response.headers["Location"] = f"/tasks/{job_id}"
    return submitted(conn, job_id)


@router.post("/tasks/batch", status_code=202, response_model=BatchSubmitted, summary="Submit many tasks at once")
def submit_batch(
    body: BatchRequest, viewer: Viewer = Depends(get_viewer), gate: Gate = Depends(get_gate), broker: Broker = Depends(get_broker)
) -> dict[str, Any]:
    check_params(body.jobs)
    conn = broker.sync()
    with gate.admit(conn, len(body.jobs)) as ticket:  # the whole batch is admitted, or none of it
        ids = [send(conn, item, viewer) for item in body.jobs]
        ticket.bind(ids)
    return {"jobs": [submitted(conn, job_id) for job_id in ids]}


def first_tasks(conn: Any, ids: list[bytes]) -> list[str | None]:
    """The task of each job as its first event names it (None without events), in one round trip."""
    pipe = conn.pipeline(transaction=False)
    for raw_id in ids:
        pipe.xrange(keys.job_stream(raw_id.decode()), count=1)
    return [first[0][1].get(b"task", b"").decode() if first else None for first in pipe.execute()]


@router.get("/tasks", response_model=TaskList, summary="Recent jobs, newest first")
def list_tasks(
    state: StateName | None = Query(None, description="only jobs in this state"),
    task: str | None = Query(None, description="only jobs of this catalogue task", json_schema_extra={"enum": TASK_NAMES}),
    limit: int = Query(50, ge=1, le=500),
    viewer: Viewer = Depends(get_viewer),
    broker: Broker = Depends(get_broker),
) -> dict[str, Any]:
    if task is not None:
        get_spec(task)  # UnknownTask (422) with the catalogue's names
    conn = broker.sync()
    rows: list[dict[str, Any]] = []
    scanned = 0
    while len(rows) < limit and scanned < LIST_SCAN_LIMIT:
        page = conn.zrevrange(keys.JOB_INDEX, scanned, scanned + 199, withscores=True)
        if not page:
            break
        scanned += len(page)
        ids = [job_id for job_id, _ in page]
        states = conn.hmget(keys.JOB_STATES, ids)
        owners = students.owners_of(conn, [i.decode() for i in ids]) if viewer.student else [None] * len(ids)
        tasks = first_tasks(conn, ids) if task is not None else [None] * len(ids)
        for (raw_id, enqueued_at), raw_state, owner, first in zip(page, states, owners, tasks, strict=True):
            if state is not None and (raw_state or b"").decode() != state:
                continue
            if first is not None and first != task:
                continue  # cheap: the task named by the job's first event (a job without one is checked below)
            if not viewer.may_see(owner):
                continue
            try:
                view = jobs.job_view(conn, raw_id.decode(), with_events=False)
            except jobs.UnknownJob:
                continue
            if task is not None and view["task"] != task:
                continue
            rows.append({**view, "events": None, "enqueued_at": enqueued_at})
            if len(rows) >= limit:
                break
    return {"tasks": [TaskSummary.model_validate(row) for row in rows], "count": len(rows)}


@router.get(
    "/tasks/{job_id}",
    response_model=TaskView,
    summary="Where is my parcel? (poll it; send If-None-Match to get 304 while nothing changed)",
    responses={**NOT_FOUND, 304: {"description": "nothing changed since the ETag you sent"}},
)
def get_task(
    response: Response,
    job_id: JobIdParam,
    with_events: bool = Query(True, alias="events", description="include the event list"),
    if_none_match: str | None = Header(None, description="the ETag of your last answer"),
    viewer: Viewer = Depends(get_viewer),
    broker: Broker = Depends(get_broker),
) -> Any:
    conn = broker.sync()
    etag = job_etag(conn, job_id) if students.may_see(conn, viewer, job_id) else None
    if etag is None:
        raise jobs.UnknownJob(f"no job with id {job_id!r}")
    # The ETag must name the very view sent: when the job moved while the view was read, read it again.
    # (Should it keep moving, the older ETag goes out: the next poll gets a 200, never a stale 304.)
    for attempt in range(3):
        if not_modified(if_none_match, etag):
            return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
        view = jobs.job_view(conn, job_id, with_events=with_events)
        now = job_etag(conn, job_id)
        if now == etag or now is None or attempt == 2:
            break
        etag = now
    response.headers.update({"ETag": etag, "Cache-Control": "no-cache"})
    return view


@router.post(
    "/tasks/{job_id}/cancel",
    status_code=202,
    response_model=CancelResult,
    summary="Call a parcel off (取消)",
    responses={**NOT_FOUND, 409: {"model": ErrorOut, "description": "the job has already finished"}},
)
def cancel_task(job_id: JobIdParam, viewer: Viewer = Depends(get_viewer), broker: Broker = Depends(get_broker)) -> dict[str, Any]:
    conn = broker.sync()
    if not students.may_see(conn, viewer, job_id):
        raise jobs.UnknownJob(f"no job with id {job_id!r}")
    before = events.current_state(conn, job_id)
    if before is not None and is_terminal(before):
        raise HTTPException(409, f"job {job_id} is already {before}: nothing to cancel")
    state = jobs.cancel(conn, job_id)
    message = (
        "cancelled before a worker picked it up"
        if is_terminal(state)
        else "stop requested: the job ends failed with reason 'cancelled' (watch its stream for the event)"
    )
    return {"id": job_id, "state": state, "message": message}
