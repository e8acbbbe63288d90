"""The seed's three scenarios (实际应用场景) over HTTP.

==============================================  ==============================================
``POST /scenarios/documents``                   scenario 1: one ``process_document`` job per PDF
                                                (uploaded ids or generated samples) -> a batch,
                                                then one ``summarize_batch`` (Celery: a chord)
``GET  /batches/{id}``                          a batch's progress and each job's state
``WS   /ws/batches/{id}``                       per-file events and whole-batch progress, pushed
``GET  /search?q=...``                          the best chunks: source file, page; the embedder in use
``POST /tasks`` with ``agent_chain``            scenario 2: follow ``/tasks/{id}/stream`` (SSE)
``POST /scenarios/summaries``                   scenario 3: ``summarize`` jobs writing to SQLite
``GET  /scenarios/summaries/{batch}``           what the database holds now (poll it; ETag/304)
==============================================  ==============================================

``WS /ws/batches/{id}`` frames: ``{"type": "snapshot", "batch": {...}}`` first,
then for each lifecycle event of a job in the batch ``{"type": "event", ...}``
followed by ``{"type": "batch", "done", "total", "percent", "completed", "failed", ...}``;
``{"type": "end", "batch": {...}}`` and close code 1000 once every job is final.
The client may send ``{"action": "ping"}`` (answered with ``pong``).

Every scenario takes an ``engine`` (``rq`` by default, as ``labs up`` starts RQ workers; ``celery`` and
``arq`` are the seed's choices, with ``labs up --engine celery|arq|all``); an unknown one is a 422 that
lists the engines. The channels read the event log and the database, whatever engine ran the jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from .. import indexing, students
from ..document_folders import documents_dir
from ..embedder import get_embedder
from ..engines import DEFAULT as DEFAULT_ENGINE
from ..engines import names as engine_names
from ..errors import BrokerUnavailable, LabError
from ..scenarios import batches, pdfs, summaries
from ..states import is_terminal
from .admission import Gate, get_gate
from .connections import Broker, get_broker
from .hub import dumps, id_key
from .models import MAX_BATCH, ErrorOut, JsonInt, check_engine_name, integral
from .students import Viewer, get_viewer, ws_viewer

router = APIRouter(tags=["scenarios"])


DOCUMENT_ID = r"^[^/\\.\x00][^/\\\x00]*$"
"""A stored document's id (POST /documents gives ``<12 hex digits>-<name>.pdf``): no folders, no '..'."""


def _either_source(schema: dict[str, Any]) -> None:
    """The schema says what the validator checks: ``documents`` or ``samples``, exactly one of them."""
    schema["oneOf"] = [
        {"required": ["documents"], "properties": {"documents": {"type": "array"}, "samples": {"type": "null"}}},
        {"required": ["samples"], "properties": {"samples": {"type": "integer"}, "documents": {"type": "null"}}},
    ]


MAX_SAMPLES = 20
"""Sample PDFs one request may make (about 0.1 s each, made in the request, then kept): the seed's 100 come
from lesson 11 (``pdfs.sample_corpus(100)``) or from POST /documents."""


ENGINE_FIELD: Any = Field(
    DEFAULT_ENGINE,
    description="which engine runs the batch (rq, celery or arq; the seed's: celery); its workers must be running",
    json_schema_extra={"enum": engine_names()},
)


class DocumentsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_either_source)

    documents: list[Annotated[str, Field(pattern=DOCUMENT_ID, max_length=200)]] | None = Field(
        None, min_length=1, max_length=1000, description="ids from POST /documents"
    )
    samples: Annotated[int, Field(ge=1, le=MAX_SAMPLES), BeforeValidator(integral)] | None = Field(
        None, description="or: generate this many sample PDFs"
    )
    broken: JsonInt = Field(0, ge=0, le=10, description="with samples: add this many broken PDFs")
    engine: str = ENGINE_FIELD

    _known_engine = field_validator("engine")(check_engine_name)

    @model_validator(mode="after")
    def one_source(self) -> DocumentsRequest:
        if (self.documents is None) == (self.samples is None):
            raise ValueError("give either 'documents' (uploaded ids) or 'samples' (how many to generate)")
        return self


class SummariesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    n: JsonInt = Field(100, ge=1, le=MAX_BATCH, description="how many summaries to write")
    engine: str = ENGINE_FIELD

    _known_engine = field_validator("engine")(check_engine_name)


def batch_links(batch_id: str) -> dict[str, str]:
    return {"self": f"/batches/{batch_id}", "ws": f"/ws/batches/{batch_id}"}


def check_batch(conn: Any, viewer: Viewer, batch_id: str) -> None:
    """Another student's batch is, for this viewer, an unknown one (404)."""
    if not students.may_see(conn, viewer, batch_id):
        raise HTTPException(404, f"no batch with id {batch_id[:100]!r}")


NO_BATCH = {404: {"model": ErrorOut, "description": "no such batch (or another student's)"}}


@router.post(
    "/scenarios/documents",
    status_code=202,
    summary="Scenario 1: process many PDFs as one batch",
    responses={404: {"model": ErrorOut, "description": "a document id that was never uploaded"}},
)
def start_documents(
    body: DocumentsRequest,
    viewer: Viewer = Depends(get_viewer),
    gate: Gate = Depends(get_gate),
    broker: Broker = Depends(get_broker),
) -> dict[str, Any]:
    if body.documents is not None:
        for ref in body.documents:
            if "/" in str(ref) or "\\" in str(ref) or not (documents_dir() / str(ref)).is_file():
                raise HTTPException(404, f"no document with id {str(ref)[:80]!r}: upload it with POST /documents first")
    conn = broker.sync()
    total = len(body.documents) if body.documents is not None else (body.samples or 0) + body.broken
    with gate.admit(conn, total + 1) as ticket:  # the files and their summary; before the samples are made
        if body.samples is not None:
            paths: list[str | Path] = list(pdfs.sample_corpus(body.samples, broken=body.broken))
        else:
            paths = list(body.documents or [])
        batch_id = pdfs.start(conn, paths, student=viewer.student, engine=body.engine)
        ticket.bind([*batches.job_ids(conn, batch_id), *batches.summary_ids(conn, batch_id)])
    return {"batch": batch_id, "total": len(paths), "engine": body.engine, "links": batch_links(batch_id)}


@router.get("/batches/{batch_id}", summary="A batch's progress and each job's state", responses=NO_BATCH)
def batch_status(batch_id: str, viewer: Viewer = Depends(get_viewer), broker: Broker = Depends(get_broker)) -> dict[str, Any]:
    conn = broker.sync()
    check_batch(conn, viewer, batch_id[:100])
    try:
        return batches.status(conn, batch_id[:100])
    except batches.UnknownBatch as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/search", summary="Search the document index (scenario 1)", dependencies=[Depends(get_viewer)])
def search(q: str = Query(..., min_length=1, max_length=500), k: int = Query(3, ge=1, le=20)) -> dict[str, Any]:
    results = indexing.search(q, k=k)
    # which embedder made the query vector (only chunks it made are compared), and why a fallback if one
    return {"query": q, "results": results, "embedder": get_embedder().describe()}


@router.post("/scenarios/summaries", status_code=202, summary="Scenario 3: write summaries into the database")
def start_summaries(
    body: SummariesRequest,
    viewer: Viewer = Depends(get_viewer),
    gate: Gate = Depends(get_gate),
    broker: Broker = Depends(get_broker),
) -> dict[str, Any]:
    conn = broker.sync()
    with gate.admit(conn, body.n) as ticket:
        batch_id = summaries.start(conn, body.n, student=viewer.student, engine=body.engine)
        ticket.bind(batches.job_ids(conn, batch_id))
    return {
        "batch": batch_id,
        "total": body.n,
        "engine": body.engine,
        "links": {**batch_links(batch_id), "poll": f"/scenarios/summaries/{batch_id}"},
        "poll_every": summaries.POLL_SECONDS,
    }


@router.get(
    "/scenarios/summaries/{batch_id}",
    summary="Poll the summaries database (ETag / If-None-Match -> 304)",
    responses={**NO_BATCH, 304: {"description": "nothing changed since the ETag you sent"}},
)
def poll_summaries(
    batch_id: str,
    response: Response,
    rows: bool = False,
    if_none_match: str | None = Header(None),
    viewer: Viewer = Depends(get_viewer),
    broker: Broker = Depends(get_broker),
) -> Any:
    conn = broker.sync()
    check_batch(conn, viewer, batch_id[:100])
    try:
        total = len(batches.job_ids(conn, batch_id[:100]))
    except batches.UnknownBatch as exc:
        raise HTTPException(404, str(exc)) from None
    count = summaries.count(batch_id)
    etag = f'W/"{count}.{int(rows)}"'
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"
    if if_none_match == etag:
        return Response(status_code=304, headers={"ETag": etag})
    out: dict[str, Any] = {"batch": batch_id, "count": count, "total": total, "percent": round(100 * count / total, 1)}
    if rows:
        out["rows"] = summaries.rows(batch_id)
    return out


@router.websocket("/ws/batches/{batch_id}")
async def batch_socket(websocket: WebSocket, batch_id: str) -> None:
    """Per-file events and whole-batch progress for one batch (scenario 1's progress push)."""
    await websocket.accept()
    broker: Broker = websocket.app.state.broker
    viewer = await ws_viewer(websocket)
    if viewer is None:
        return
    try:
        hub = await broker.hub()
    except (BrokerUnavailable, RedisError) as exc:
        await websocket.send_text(dumps({"type": "error", "error": f"broker unavailable: {exc}"}))
        return await websocket.close(1013)
    with hub.subscribe(None) as sub:  # subscribe first, then read the state: nothing falls in between
        try:
            conn = await run_in_threadpool(broker.sync)
            if not await run_in_threadpool(students.may_see, conn, viewer, batch_id[:100]):
                raise batches.UnknownBatch(f"no batch with id {batch_id[:100]!r}")
            status = await run_in_threadpool(batches.status, conn, batch_id[:100])
        except (batches.UnknownBatch, LabError, RedisError) as exc:
            await websocket.send_text(dumps({"type": "error", "error": str(exc)}))
            return await websocket.close(4404)
        rows = {row["id"]: row for row in status["jobs"]}
        meta = {"kind": status["kind"], "engine": status["engine"]}
        await websocket.send_text(dumps({"type": "snapshot", "batch": status}))

        async def listen() -> None:
            while True:
                message = await websocket.receive_text()
                with contextlib.suppress(ValueError, AttributeError):
                    if json.loads(message).get("action") == "ping":
                        await websocket.send_text(dumps({"type": "pong"}))
                        continue
                await websocket.send_text(dumps({"type": "error", "error": 'send {"action": "ping"}'}))

        listener = asyncio.create_task(listen())
        try:
            while not batches.batch_summary(batch_id, meta, list(rows.values()))["finished"]:
                push = await sub.next(timeout=1.0)
                if push is None or push.event.data.get("batch") != batch_id or push.event.job_id not in rows:
                    continue
                row, event = rows[push.event.job_id], push.event
                if row.get("last_event_id") and id_key(event.id) <= id_key(row["last_event_id"]):
                    continue  # already in the snapshot: the hub was still delivering it when we read the log
                row["last_event_id"] = event.id
                if not (is_terminal(row["state"]) and not is_terminal(event.state)):
                    row["state"] = event.state
                if event.progress:
                    row["percent"] = event.progress.get("percent", row["percent"])
                if event.data.get("error") and event.state == "failed":
                    row["error"] = event.data["error"]
                await websocket.send_text(push.ws)
                totals = batches.batch_summary(batch_id, meta, list(rows.values()))
                await websocket.send_text(dumps({"type": "batch", **{k: v for k, v in totals.items() if k != "jobs"}}))
            await websocket.send_text(dumps({"type": "end", "batch": batches.batch_summary(batch_id, meta, list(rows.values()))}))
            await websocket.close(1000)
        except WebSocketDisconnect:
            pass
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
