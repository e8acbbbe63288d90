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

from fastapi import APIRouter, Body, Depends, Query

from .. import dlq
from .connections import Broker, get_broker
from .models import DeadLetter, DeadLetterList, Discarded, ErrorOut, JobIdParam, RedriveRequest, Submitted
from .tasks import submitted

router = APIRouter(tags=["dead-letter queue"])
NOT_HERE = {404: {"model": ErrorOut, "description": "not in the dead-letter queue"}}


@router.get("/dlq", response_model=DeadLetterList, summary="What is in the returns centre")
def list_dead_letters(limit: int = Query(100, ge=1, le=1000), broker: Broker = Depends(get_broker)) -> dict[str, Any]:
    entries = dlq.list_entries(broker.sync(), limit=limit)
    return {"count": len(entries), "entries": entries}


@router.get("/dlq/{job_id}", response_model=DeadLetter, responses=NOT_HERE, summary="One returned parcel")
def inspect_dead_letter(job_id: JobIdParam, broker: Broker = Depends(get_broker)) -> dict[str, Any]:
    return dlq.inspect(broker.sync(), job_id)


@router.post(
    "/dlq/{job_id}/redrive",
    status_code=202,
    response_model=Submitted,
    responses=NOT_HERE,
    summary="Deliver it again as a new job, optionally with corrected params",
)
def redrive_dead_letter(
    job_id: JobIdParam, body: RedriveRequest | None = Body(None), broker: Broker = Depends(get_broker)
) -> dict[str, Any]:
    conn = broker.sync()
    new_id = dlq.redrive(conn, job_id, body.params if body is not None else None)
    return submitted(conn, new_id, redrive_of=job_id)


@router.delete("/dlq/{job_id}", response_model=Discarded, responses=NOT_HERE, summary="Throw it away")
def discard_dead_letter(job_id: JobIdParam, broker: Broker = Depends(get_broker)) -> dict[str, Any]:
    dlq.discard(broker.sync(), job_id)
    return {"id": job_id, "discarded": True}
