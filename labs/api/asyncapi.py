"""The WebSocket contract: an AsyncAPI 3.0 document (``GET /asyncapi.json``), built from the message models.

OpenAPI cannot describe a WebSocket, so ``/openapi.json`` stops at the HTTP
routes; this document describes the two sockets, both directions, one
message model per frame type (``type`` tells server frames apart, ``action``
client ones). ``ws.py`` and ``scenarios.py`` send exactly these shapes, and
``tests/api/test_api_asyncapi.py`` validates the frames a real server sends
against the document.

AsyncAPI describes the application itself: ``send`` operations are the
server's frames, ``receive`` operations the client's.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from .models import EVENT_ID_PATTERN, EventOut, TaskView

REF = "#/components/schemas/{model}"


class JobSnapshot(BaseModel):
    """First frame: the job's view, without its event list."""

    type: Literal["snapshot"]
    job: TaskView


class JobEvent(EventOut):
    """One lifecycle event, the same as the SSE stream's (``labs.events.Event.to_dict()`` plus ``type``)."""

    type: Literal["event"]


class Heartbeat(BaseModel):
    """'Still on the line' (心跳), every 15 demo seconds."""

    type: Literal["heartbeat"]
    ts: float


class Pong(BaseModel):
    """The answer to a ping; ``echo`` is the ping's ``ts``."""

    type: Literal["pong"]
    ts: float
    echo: Any = None


class CancelAck(BaseModel):
    type: Literal["ack"]
    action: Literal["cancel"]
    state: str = Field(..., description="the job's state right after the request (failed if it had not started)")


class ResumeAck(BaseModel):
    type: Literal["ack"]
    action: Literal["resume"]
    after: str | None = Field(..., description="every event after this id follows")


class ErrorFrame(BaseModel):
    """A bad message (the line stays open), or the reason just before a close code other than 1000."""

    type: Literal["error"]
    error: str


class JobEnd(BaseModel):
    """The job is final; close code 1000 follows."""

    type: Literal["end"]
    state: str | None
    last_event_id: str | None


class CancelCommand(BaseModel):
    model_config = ConfigDict(extra="allow")

    action: Literal["cancel"]


class PingCommand(BaseModel):
    model_config = ConfigDict(extra="allow")

    action: Literal["ping"]
    ts: Any = Field(None, description="anything: it comes back as the pong's echo")


class ResumeCommand(BaseModel):
    model_config = ConfigDict(extra="allow")

    action: Literal["resume"]
    after: str = Field(..., pattern=EVENT_ID_PATTERN, description="the id of the last event you have")


class BatchJob(BaseModel):
    id: str
    label: str = ""
    state: str
    percent: float
    error: str | None = None
    last_event_id: str | None = None


class BatchTotals(BaseModel):
    batch: str
    kind: str
    engine: str = Field("rq", description="the engine that runs the batch's jobs (rq, celery or arq)")
    total: int
    completed: int
    failed: int
    running: int
    pending: int
    done: int
    percent: float
    finished: bool


class BatchSummaryJob(BaseModel):
    """The job that runs once every job of the batch has ended (scenario 1: ``summarize_batch``; a chord's body on Celery)."""

    id: str
    task: str
    state: str
    result: dict[str, Any] | None = None
    error: str | None = None


class BatchStatus(BatchTotals):
    jobs: list[BatchJob]
    summary: BatchSummaryJob | None = Field(None, description="then a summary: its job, once every file has ended")


class BatchSnapshot(BaseModel):
    type: Literal["snapshot"]
    batch: BatchStatus


class BatchProgress(BatchTotals):
    """Whole-batch totals, after each job event."""

    type: Literal["batch"]


class BatchEnd(BaseModel):
    type: Literal["end"]
    batch: BatchStatus


class BatchPong(BaseModel):
    type: Literal["pong"]


class BatchPing(BaseModel):
    model_config = ConfigDict(extra="allow")

    action: Literal["ping"]


JOB_SENDS = (JobSnapshot, JobEvent, Heartbeat, Pong, CancelAck, ResumeAck, ErrorFrame, JobEnd)
JOB_RECEIVES = (CancelCommand, PingCommand, ResumeCommand)
BATCH_SENDS = (BatchSnapshot, JobEvent, BatchProgress, BatchPong, ErrorFrame, BatchEnd)
BATCH_RECEIVES = (BatchPing,)

JOB_CLOSE_CODES = {
    1000: "the job is final (after its end frame)",
    1011: "the broker was lost mid-call",
    1013: "no broker answers: try again later",
    4401: "classroom mode: no token, or an unknown one (?token=)",
    4404: "no such job (or another student's)",
    4422: "?after= is not an event id",
}
BATCH_CLOSE_CODES = {
    1000: "every job of the batch is final",
    1013: "no broker answers",
    4401: "no or unknown token",
    4404: "no such batch",
}


def _messages(models: tuple[type[BaseModel], ...], prefix: str) -> dict[str, Any]:
    return {
        f"{prefix}{model.__name__}": {
            "name": model.__name__,
            "contentType": "application/json",
            "summary": (model.__doc__ or model.__name__).strip().splitlines()[0],
            "payload": {"$ref": REF.format(model=model.__name__)},
        }
        for model in models
    }


def _channel(address: str, parameter: str, sends: dict[str, Any], receives: dict[str, Any], codes: dict[int, str]) -> dict:
    closes = "; ".join(f"{code}: {meaning}" for code, meaning in codes.items())
    return {
        "address": address,
        "parameters": {parameter: {"description": f"the {parameter.removesuffix('_id')} id"}},
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in (*sends, *receives)},
        "description": f"One JSON text frame per message. Close codes: {closes}.",
        "x-close-codes": {str(code): meaning for code, meaning in codes.items()},
    }


def document(version: str = "1.0.0") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the lab's WebSockets."""
    models = {*JOB_SENDS, *JOB_RECEIVES, *BATCH_SENDS, *BATCH_RECEIVES}
    _, defs = models_json_schema(
        [(model, "serialization") for model in sorted(models, key=lambda m: m.__name__)], ref_template=REF
    )
    job_sends, job_receives = _messages(JOB_SENDS, "job"), _messages(JOB_RECEIVES, "job")
    batch_sends, batch_receives = _messages(BATCH_SENDS, "batch"), _messages(BATCH_RECEIVES, "batch")

    def refs(channel: str, names: dict[str, Any]) -> list[dict[str, str]]:
        return [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in names]

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Long-Task Lab WebSockets (电话通话)",
            "version": version,
            "description": "Follow and steer one job (or one batch) over a WebSocket; the HTTP routes are in /openapi.json.",
        },
        "defaultContentType": "application/json",
        "servers": {"api": {"host": "127.0.0.1:8000", "protocol": "ws", "description": "the API's own host and port"}},
        "channels": {
            "job": {
                **_channel("/ws/tasks/{job_id}", "job_id", job_sends, job_receives, JOB_CLOSE_CODES),
                "bindings": {
                    "ws": {
                        "query": {
                            "type": "object",
                            "properties": {
                                "after": {"type": "string", "pattern": EVENT_ID_PATTERN, "description": "resume after it"},
                                "token": {"type": "string", "description": "classroom mode: the token"},
                            },
                        }
                    }
                },
            },
            "batch": _channel("/ws/batches/{batch_id}", "batch_id", batch_sends, batch_receives, BATCH_CLOSE_CODES),
        },
        "operations": {
            "sendJobFrames": {"action": "send", "channel": {"$ref": "#/channels/job"}, "messages": refs("job", job_sends)},
            "receiveJobCommands": {
                "action": "receive",
                "channel": {"$ref": "#/channels/job"},
                "messages": refs("job", job_receives),
            },
            "sendBatchFrames": {
                "action": "send",
                "channel": {"$ref": "#/channels/batch"},
                "messages": refs("batch", batch_sends),
            },
            "receiveBatchCommands": {
                "action": "receive",
                "channel": {"$ref": "#/channels/batch"},
                "messages": refs("batch", batch_receives),
            },
        },
        "components": {"messages": {**job_sends, **job_receives, **batch_sends, **batch_receives}, "schemas": defs["$defs"]},
    }
