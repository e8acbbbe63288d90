"""The returns centre over HTTP (类比7: 死信队列 = 退件处理中心).

==============================  ===================================================================
``GET    /dlq``                 what came back, newest first: ``{"count", "entries": [...]}``
``GET    /dlq/{id}``            one returned parcel with its attempt history and events
``POST   /dlq/{id}/redrive``    send it again as a *new* job (optional ``{"params": {...}}`` to correct
                                it) -> ``202`` with the new id; the old job keeps its history
``DELETE /dlq/{id}``            throw it away -> ``{"id", "discarded": true}``
==============================  ===================================================================
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query

from .. import dlq, students
from ..errors import InvalidParams
from ..students import Viewer
from .admission import Gate, get_gate
from .connections import Broker, get_broker
from .models import DeadLetter, DeadLetterList, Discarded, ErrorOut, JobIdParam, RedriveRequest, Submitted, strict_params
from .rest import submitted
from .students import get_viewer

router = APIRouter(tags=["dead-letter queue"])
NOT_HERE = {404: {"model": ErrorOut, "description": "not in the dead-letter queue"}}


def _check(conn: Any, viewer: Viewer, job_id: str) -> None:
    """Another student's returned parcel is, for this viewer, simply not here."""
    if not students.may_see(conn, viewer, job_id):
        raise dlq.NotInDeadLetterQueue(f"job {job_id!r} is not in the dead-letter queue")


@router.get("/dlq", response_model=DeadLetterList, summary="What is in the returns centre")
def list_dead_letters(
    limit: int = Query(100, ge=1, le=1000), viewer: Viewer = Depends(get_viewer), broker: Broker = Depends(get_broker)
) -> dict[str, Any]:
    entries = dlq.list_entries(broker.sync(), limit=limit, student=viewer.student)
    return {"count": len(entries), "entries": entries}


@router.get("/dlq/{job_id}", response_model=DeadLetter, responses=NOT_HERE, summary="One returned parcel")
def inspect_dead_letter(
    job_id: JobIdParam, viewer: Viewer = Depends(get_viewer), broker: Broker = Depends(get_broker)
) -> dict[str, Any]:
    conn = broker.sync()
    _check(conn, viewer, job_id)
    return dlq.inspect(conn, job_id)


@router.post(
    "/dlq/{job_id}/redrive",
    status_code=202,
    response_model=Submitted,
    responses={
        **NOT_HERE,
        409: {"model": ErrorOut, "description": "the params do not fit this job's task (its schema: GET /catalogue)"},
    },
    summary="Deliver it again as a new job, optionally with corrected params",
)
def redrive_dead_letter(
    job_id: JobIdParam,
    body: RedriveRequest | None = Body(None),
    viewer: Viewer = Depends(get_viewer),
    gate: Gate = Depends(get_gate),
    broker: Broker = Depends(get_broker),
) -> dict[str, Any]:
    conn = broker.sync()
    _check(conn, viewer, job_id)
    params = body.params if body is not None else None
    # Which params are valid depends on the dead job's task, which the request schema cannot know:
    # params that do not fit it conflict with the resource (409), unlike a malformed request (422).
    try:
        if params is not None:
            strict_params(dlq.inspect(conn, job_id)["task"], params)
        with gate.admit(conn) as ticket:
            new_id = dlq.redrive(conn, job_id, params)
            ticket.bind([new_id])
    except (ValueError, InvalidParams) as exc:
        raise HTTPException(409, f"these params do not fit the job's task: {exc}") from None
    return submitted(conn, new_id, redrive_of=job_id)


@router.delete("/dlq/{job_id}", response_model=Discarded, responses=NOT_HERE, summary="Throw it away")
def discard_dead_letter(
    job_id: JobIdParam, viewer: Viewer = Depends(get_viewer), broker: Broker = Depends(get_broker)
) -> dict[str, Any]:
    conn = broker.sync()
    _check(conn, viewer, job_id)
    dlq.discard(conn, job_id)
    return {"id": job_id, "discarded": True}
