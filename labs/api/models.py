"""Request and response shapes of the HTTP API (pydantic models, shown in ``/docs``).

Requests are validated here before anything reaches the broker: a task name
outside the catalogue, a retry policy out of range or a field that does not
exist is a ``422`` with a readable message. The task's own parameters are
checked by the catalogue (``labs.catalogue.TaskSpec.validate``) when the job is
submitted, with the same kind of message.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from ..catalogue import CATALOGUE, get_spec
from ..engines import DEFAULT as DEFAULT_ENGINE
from ..engines import UnknownEngine
from ..engines import check_name as check_engine
from ..engines import names as engine_names
from ..errors import UnknownTask
from ..events import EVENT_TYPES
from ..retry import RetryPolicy
from ..students import NAME as STUDENT_NAME

StateName = Literal["pending", "running", "completed", "failed"]
TASK_NAMES = sorted(CATALOGUE)
EVENT_ID_PATTERN = r"^([0-9]{1,19}(-[0-9]{1,19})?)?$"
"""A resume point (``Last-Event-ID``): a stream id ``<milliseconds>-<sequence>`` (or empty: from the start)."""
JOB_ID = r"[A-Za-z0-9_-]{1,128}"
JOB_ID_PATTERN = f"^{JOB_ID}$"
"""What a job id may look like in a URL: RQ's rule (letters, digits, _ and -); the lab's own ids are 32 hex digits."""
JobIdParam = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="the job id (快递单号) from POST /tasks")]


def integral(value: Any) -> Any:
    """``82.0`` -> ``82``: JSON Schema counts a number with no fraction as an integer; strict pydantic does not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


JsonInt = Annotated[int, BeforeValidator(integral)]
"""An integer as JSON Schema means it, in the strict request models: ``5`` or ``5.0``, never ``"5"`` or ``true``."""


def integral_floats(value: Any) -> Any:
    """``value`` with every integral float made an int (see :func:`integral`), for a strict check."""
    if isinstance(value, dict):
        return {key: integral_floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [integral_floats(item) for item in value]
    return integral(value)


def _optional(field: FieldInfo) -> tuple[Any, Any]:
    extra = [BeforeValidator(integral)] if field.annotation is int else []
    metadata = [*field.metadata, *extra]
    annotation = Annotated[(field.annotation, *metadata)] if metadata else field.annotation
    return annotation | None, Field(None, description=field.description)


RetryIn = create_model(
    "RetryIn",
    __config__=ConfigDict(extra="forbid", strict=True),
    __doc__="A retry policy (labs.retry.RetryPolicy); a field left out keeps the task's default.",
    **{name: _optional(field) for name, field in RetryPolicy.model_fields.items()},
)
"""``RetryPolicy`` with every field optional, derived from it so that the bounds never drift."""


def check_task_name(name: str) -> str:
    """``name`` if the catalogue has it, else a ValueError that lists the catalogue."""
    try:
        get_spec(name)
    except UnknownTask as exc:
        raise ValueError(str(exc)) from None
    return name


def check_engine_name(name: str) -> str:
    """``name`` if the lab has that engine, else a ValueError that lists the engines."""
    try:
        return check_engine(name)
    except UnknownEngine as exc:
        raise ValueError(str(exc)) from None


def standard_json(value: Any) -> Any:
    """``value`` unchanged, unless it holds NaN or Infinity, which Python accepts but JSON (and browsers) do not."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN and Infinity are not JSON numbers")
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        standard_json(child)
    return value


DOCUMENT_REF = r"^[^/\\.\x00][^/\\\x00]*(/[^/\\.\x00][^/\\\x00]*)*$"
"""A document over HTTP: an id from POST /documents or a name under the documents folder (no '..', not absolute)."""
DOCUMENT_FIELDS = {("process_document", "document"): False, ("process_documents", "documents"): True}
"""The params that name documents (True: a list of them)."""


def params_schema(task: str) -> dict[str, Any]:
    """The JSON schema of a task's params as the API takes them."""
    params = {key: value for key, value in CATALOGUE[task].params.model_json_schema().items() if key != "title"}
    for (name, field), many in DOCUMENT_FIELDS.items():
        if name == task:
            target = params["properties"][field]
            (target["items"] if many else target)["pattern"] = DOCUMENT_REF
    return params


def task_params_schema(schema: dict[str, Any]) -> None:
    """Add each catalogue task's own ``params`` schema to a request schema (one ``oneOf`` branch per task).

    ``params`` alone is "any object"; which object depends on ``task``, and a client
    generated from the schema should know it (``slow_task`` takes ``steps``, ``noop`` does not).
    """
    branches = []
    for name in TASK_NAMES:
        params = params_schema(name)
        branch: dict[str, Any] = {"properties": {"task": {"const": name}, "params": params}, "required": ["task"]}
        if params.get("required"):
            branch["required"] = ["task", "params"]
        branches.append(branch)
    schema["oneOf"] = branches
    schema["examples"] = [{"task": "slow_task", "params": {"steps": 5, "step_seconds": 0.5}}]


def strict_params(task: str, params: dict[str, Any]) -> None:
    """The task's params as its JSON schema says: no ``"5"`` for an integer (the catalogue itself is lenient)."""
    try:
        CATALOGUE[task].params.model_validate(integral_floats(params), strict=True)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise ValueError(f"{task}: {problems}") from None
    for (name, field), many in DOCUMENT_FIELDS.items():
        refs = params.get(field) if name == task else None
        for ref in refs if many and isinstance(refs, list) else [refs] if refs is not None else []:
            if not re.fullmatch(DOCUMENT_REF, ref):
                raise ValueError(
                    f"{task}: {field}: {ref[:80]!r} is not a document of the lab: use an id from POST /documents"
                    " or a name under the documents folder (no '..', no leading '/' or '.', no backslash)"
                )


class SubmitRequest(BaseModel):
    """One parcel to send: a catalogue task and its parameters (each task's params: GET /catalogue)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra=task_params_schema,
    )

    task: str = Field(..., description="a task name from GET /catalogue", json_schema_extra={"enum": sorted(CATALOGUE)})
    params: dict[str, Any] = Field(default_factory=dict, description="the task's parameters (see GET /catalogue)")
    retry: RetryIn | None = Field(None, description="override the task's retry policy")  # type: ignore[valid-type]
    timeout: float | None = Field(None, gt=0, le=86400, description="time limit of one attempt, in demo seconds")
    engine: str = Field(
        DEFAULT_ENGINE, description="which engine runs it (rq, celery or arq)", json_schema_extra={"enum": engine_names()}
    )

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str) -> str:
        return check_task_name(value)

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        return check_engine_name(value)

    _standard_params = field_validator("params")(standard_json)

    @model_validator(mode="after")
    def _params_fit_the_task(self) -> SubmitRequest:
        strict_params(self.task, self.params)
        return self

    def retry_dict(self) -> dict[str, Any] | None:
        return self.retry.model_dump(exclude_none=True) if self.retry is not None else None


MAX_BATCH = 100
"""Jobs one request may submit (the seed's batches are 100): each request stays short; send more for more."""


class BatchRequest(BaseModel):
    """Many parcels at once (the seed's scenario 1: 100 PDFs). All are checked before any is sent."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[SubmitRequest] = Field(..., min_length=1, max_length=MAX_BATCH)


class Links(BaseModel):
    self: str = Field(..., description="GET: the job's state (poll it)")
    stream: str = Field(..., description="GET: Server-Sent Events of the job")
    ws: str = Field(..., description="WebSocket of the job")


class Submitted(BaseModel):
    """A tracking number (快递单号) and where to follow the parcel."""

    id: str
    state: str
    links: Links
    redrive_of: str | None = None


class BatchSubmitted(BaseModel):
    jobs: list[Submitted]


class ProgressOut(BaseModel):
    done: float = 0
    total: float = 0
    percent: float = 0.0
    message: str = ""


class EventOut(BaseModel):
    """One lifecycle event (``labs.events.Event.to_dict()``); extra data such as ``delay`` or ``error`` rides along."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(..., description="its stream id: resume after it with Last-Event-ID")
    job_id: str
    seq: int
    event: Literal[EVENT_TYPES]  # type: ignore[valid-type]
    state: str
    rq_status: str
    attempt: int
    worker: str
    ts: float
    task: str
    message: str
    progress: ProgressOut | None = None


class TaskView(BaseModel):
    """Everything known about one job (``labs.jobs.job_view``)."""

    id: str
    task: str
    state: str = Field(..., description="pending | running | completed | failed (unknown for a status RQ adds later)")
    rq_status: str
    progress: ProgressOut
    attempt: int
    max_retries: int
    retry_plan: list[float] = Field(default_factory=list)
    result: Any = None
    error: str | None = None
    reason: str | None = None
    redrive_of: str | None = None
    batch: str | None = None
    student: str | None = Field(None, description="whose job it is in a classroom (none in an open lab)")
    engine: str = Field(DEFAULT_ENGINE, description="the engine that runs it (rq, celery or arq)")
    last_event_id: str | None = None
    events: list[EventOut] | None = Field(
        None, description="the job's lifecycle events, oldest first (omitted with ?events=false)"
    )


class TaskSummary(TaskView):
    enqueued_at: float | None = None


class TaskList(BaseModel):
    tasks: list[TaskSummary]
    count: int = Field(..., description="how many are listed here")


class CancelResult(BaseModel):
    id: str
    state: str
    message: str


class RedriveRequest(BaseModel):
    """Redeliver with corrected parameters (a corrected address); omit them to resend as it was."""

    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] | None = None

    _standard_params = field_validator("params")(standard_json)


class Discarded(BaseModel):
    id: str
    discarded: bool = True


class DeadLetter(BaseModel):
    """One returned parcel (``labs.dlq.inspect``)."""

    model_config = ConfigDict(extra="allow")

    id: str
    task: str
    params: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""
    error: str = ""
    attempts: int = 0
    failed_at: float = 0
    history: list[dict[str, Any]] = Field(default_factory=list)
    student: str | None = None
    engine: str = DEFAULT_ENGINE


class DeadLetterList(BaseModel):
    count: int
    entries: list[DeadLetter]


class DocumentOut(BaseModel):
    id: str = Field(..., description="the stored file name: pass it as process_document's `document`")
    name: str = Field(..., description="the uploaded name, sanitised")
    size: int


class Uploaded(BaseModel):
    documents: list[DocumentOut]
    jobs: list[Submitted] = Field(default_factory=list, description="process_document jobs (with ?process=true)")


class StoredDocument(BaseModel):
    id: str
    size: int
    modified: float


class DocumentList(BaseModel):
    documents: list[StoredDocument]


class CatalogueEntry(BaseModel):
    name: str
    title: dict[str, str]
    params: dict[str, Any] = Field(..., description="JSON schema of the task's parameters")
    retry: dict[str, Any]
    timeout: float


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    broker: str | None = None
    detail: str = ""
    queue: str = ""
    workers: int = Field(0, description="live workers of every engine")
    engines: dict[str, int] = Field(default_factory=dict, description="live workers per engine, e.g. {'rq': 2, 'celery': 1}")
    time_scale: float = 1.0
    push: dict[str, Any] = Field(default_factory=dict, description="the event hub: running, position, subscribers")


class FieldError(BaseModel):
    """One problem of an invalid request (pydantic's ``loc``, ``msg``, ``type``)."""

    loc: list[str | int] = Field(..., description="where: ['body', 'params', 'steps'], ['query', 'limit'], ...")
    msg: str
    type: str


class ErrorOut(BaseModel):
    """The lab's one error body, whatever the status (4xx, 503): one readable line, and for a 422 each problem."""

    model_config = ConfigDict(title="Error")

    detail: str = Field(..., description="what is wrong, in one line (e.g. \"no job with id 'abc'\")")
    errors: list[FieldError] = Field(
        default_factory=list, description="an invalid request (422): each problem; left out otherwise"
    )


class StreamEnd(BaseModel):
    """The last message of a job's stream: its final state and the id of the last event sent."""

    state: str | None
    last_event_id: str | None


class StreamError(BaseModel):
    """The broker was lost mid-stream; the stream ends after it (reconnect with Last-Event-ID)."""

    error: str


class FirehoseSnapshot(BaseModel):
    """The first message of ``GET /events``: how many jobs are in each state, and where the feed starts."""

    counts: dict[str, int]
    last_event_id: str | None


_LETTER = "A-Za-z0-9\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u4e00-\u9fff"
NAME_PATTERN = f"^[{_LETTER}][{_LETTER}_-]{{0,31}}$"
"""A student name over HTTP: ASCII letters and digits, Latin-1 letters (é) and Chinese characters (王), then also
``_`` and ``-``; spelled out so that every regex engine (Python, JSON Schema's) reads the same set."""


class StudentIn(BaseModel):
    """A name for this class (1-32 letters, digits, ``_`` or ``-``; Chinese names welcome)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        ...,
        min_length=1,
        max_length=32,
        examples=["alice", "王小明"],
        json_schema_extra={"pattern": NAME_PATTERN},
    )

    @field_validator("name")
    @classmethod
    def _a_name(cls, value: str) -> str:
        if not re.fullmatch(NAME_PATTERN, value) or not STUDENT_NAME.match(value):
            raise ValueError(f"{value[:40]!r} is not a name: use 1-32 letters, digits, '_' or '-', e.g. 'alice' or '王小明'")
        return value


class StudentToken(BaseModel):
    name: str
    token: str = Field(..., description="send it as 'Authorization: Bearer <token>' (or ?token= for EventSource/WebSocket)")


class Me(BaseModel):
    name: str | None = Field(None, description="your student name; none for the instructor or an open lab")
    instructor: bool
    classroom: bool = Field(..., description="whether this lab asks every request for a token")
    sees: str = Field(..., description="'own jobs' or 'all jobs'")


class StudentList(BaseModel):
    students: list[dict[str, Any]]
