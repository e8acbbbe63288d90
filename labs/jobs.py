"""Sending parcels and asking where they are: submit, cancel and look up jobs.

:func:`submit` is the seed's ``.delay()``: it validates the task against the
catalogue, plans its retries, has the engine record the ``enqueued`` event
*before* the job reaches the queue (so no worker can start it first) and
returns the job id, the parcel's tracking number (快递单号).

Which engine runs the job (``rq`` by default, ``celery``) is a name: this
module reaches the engine through :func:`engine_for`, as the catalogue names
its bodies, so the core never imports the runtime layer (:mod:`labs.engines`).
"""

from __future__ import annotations

import importlib
import json
import time
import uuid
from typing import Any

import redis

from . import events, keys, students
from .catalogue import get_spec
from .errors import InvalidParams, LabError
from .retry import RetryPolicy
from .settings import queue_name
from .states import state_of

RESULT_TTL = 7 * 24 * 3600
FAILURE_TTL = 7 * 24 * 3600
ENGINES_PACKAGE = "labs.engines"
DEFAULT_ENGINE = "rq"


def engine_for(name: str | None = None) -> Any:
    """The engine called ``name`` (:func:`labs.engines.get_engine`; unknown names list the engines)."""
    return importlib.import_module(ENGINES_PACKAGE).get_engine(name or DEFAULT_ENGINE)


def engine_of(history: list[events.Event]) -> str:
    """Which engine a job was sent to, from its ``enqueued`` event (``rq`` for jobs from before engines)."""
    return str(history[0].data.get("engine") or DEFAULT_ENGINE) if history else DEFAULT_ENGINE


def job_engine(conn: redis.Redis, job_id: str) -> str:
    """Which engine runs ``job_id`` (reads only the job's first event)."""
    first = conn.xrange(keys.job_stream(job_id), count=1)
    return engine_of([events.parse(*first[0])]) if first else DEFAULT_ENGINE


class UnknownJob(LabError, KeyError):
    """No job with this id (never submitted, or expired)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown job"


def _policy(retry: RetryPolicy | dict[str, Any] | None, default: RetryPolicy) -> RetryPolicy:
    if retry is None:
        return default
    if isinstance(retry, RetryPolicy):
        return retry
    if not isinstance(retry, dict):
        raise InvalidParams('retry must be a JSON object such as {"max_retries": 3, "base": 1}')
    try:
        return RetryPolicy.model_validate({**default.model_dump(), **retry})
    except ValueError as exc:
        raise InvalidParams(f"retry: {exc}") from None


def prepare(
    task: str,
    params: dict[str, Any] | None = None,
    *,
    retry: RetryPolicy | dict[str, Any] | None = None,
    timeout: float | None = None,
    redrive_of: str | None = None,
    job_id: str | None = None,
    batch: str | None = None,
    student: str | None = None,
    engine: str | None = None,
    queue: str | None = None,
    priority: bool = False,
) -> dict[str, Any]:
    """A validated catalogue job as an engine takes it (see :class:`labs.engines.Engine`), not sent yet.

    ``queue`` is the lab queue's name (default ``LAB_QUEUE``; each engine derives its own key from it, e.g.
    ``<queue>-celery``), kept in the job's meta so that cancel, redrive and :func:`wait_for` find it from any process.
    ``priority``: the instructor's job, which goes before the students' (:mod:`labs.fairness`).
    """
    runner = engine_for(engine)
    queue = queue or queue_name()
    spec = get_spec(task)
    kwargs = spec.validate(params)
    try:
        json.dumps(kwargs, allow_nan=False)  # NaN and Infinity are not JSON either
    except (TypeError, ValueError) as exc:
        raise InvalidParams(f"{task}: params are not plain JSON: {exc}") from None
    policy = _policy(retry, spec.retry)
    if timeout is not None and not (0 < float(timeout) <= 86400):
        raise InvalidParams("timeout must be between 0 and 86400 seconds")
    timeout_demo = float(timeout) if timeout is not None else spec.timeout
    delays = policy.delays()
    job_id = job_id or uuid.uuid4().hex
    meta = {
        "task": task,
        "attempt": 1,
        "max_retries": policy.max_retries,
        "retry_policy": policy.model_dump(),
        "retry_plan": delays,
        "timeout": timeout_demo,
        "redrive_of": redrive_of,
        "submitted_at": time.time(),
        "batch": batch,
        "student": student,
        "engine": runner.name,
        "queue": queue,
    }
    if priority:
        meta["priority"] = True
    data: dict[str, Any] = {"params": kwargs, "retry_plan": delays, "timeout": timeout_demo, "engine": runner.name}
    if redrive_of:
        data["redrive_of"] = redrive_of
    if batch:
        data["batch"] = batch
    return {"id": job_id, "task": task, "func": spec.func, "params": kwargs, "retry_plan": delays,
            "timeout": timeout_demo, "meta": meta, "data": data, "queue": queue}  # fmt: skip


def submit(conn: redis.Redis, task: str, params: dict[str, Any] | None = None, **options: Any) -> str:
    """Validate and enqueue one catalogue task; return its job id (快递单号).

    ``options`` are :func:`prepare`'s (``engine``, default ``rq``; ``queue``; ``student``, whose job it is in a
    classroom, see :mod:`labs.students`; ``priority``, the instructor's job, see :mod:`labs.fairness`; ...).
    """
    job = prepare(task, params, **options)
    meta = job["meta"]
    students.set_owner(conn, job["id"], meta["student"])  # every event of the job will carry the name
    engine_for(meta["engine"]).submit(conn, job)  # the engine records "enqueued" before the job reaches its queue
    return job["id"]


def submit_then(
    conn: redis.Redis,
    header: list[dict[str, Any]],
    body: dict[str, Any],
    *,
    student: str | None = None,
    engine: str | None = None,
) -> tuple[list[str], str]:
    """Many jobs, then one more once every one of them has ended, completed *or* failed ("all files, then a summary").

    ``header`` and ``body`` are :func:`prepare` jobs for ``engine``; every one is checked before any is sent.
    Each engine uses its own tool (:meth:`labs.engines.Engine.submit_then`): RQ a ``Dependency(allow_failure=True)``,
    Celery a ``chord``, ARQ (which has neither) a body that waits for the log to say the others have ended.
    Returns the header's ids and the body's id.
    """
    runner = engine_for(engine)
    if any(job["meta"]["engine"] != runner.name for job in [*header, body]):
        raise InvalidParams(f"submit_then: every job must be prepared for the {runner.name} engine")
    for job in [*header, body]:
        students.set_owner(conn, job["id"], student)
    body["data"]["waits_for"] = len(header)
    runner.submit_then(conn, header, body)
    return [job["id"] for job in header], body["id"]


def cancel(conn: redis.Redis, job_id: str) -> str:
    """Cancel a job: a pending one never runs, a running one is stopped.

    The job's engine stops it its own way (RQ's stop-job command on a forking
    worker, Celery's revoke); on every engine and worker kind the job's cancel
    flag makes its next ``progress()`` call raise. Either way the job ends
    ``failed`` with reason ``cancelled``. Returns the job's state after the request.
    """
    state = engine_for(job_engine(conn, job_id)).cancel(conn, job_id)
    if state is None:
        raise UnknownJob(f"no job with id {job_id!r}")
    return state


def job_view(conn: redis.Redis, job_id: str, *, with_events: bool = True) -> dict[str, Any]:
    """Everything known about one job, from its engine's record and the event log."""
    history = events.job_events(conn, job_id)
    engine = engine_of(history)
    record = engine_for(engine).record(conn, job_id)
    if record is None and not history:
        raise UnknownJob(f"no job with id {job_id!r}")
    rq_status = record["status"] if record else ""
    # the state comes from the history read above, so the view is one consistent snapshot
    state = history[-1].state if history else state_of(rq_status)
    meta = record["meta"] if record else {}
    last_progress = next((e.progress for e in reversed(history) if e.progress), None)
    reason = next((e.data.get("reason") for e in reversed(history) if e.data.get("reason")), None)
    error = next((e.data.get("error") for e in reversed(history) if e.data.get("error")), None)
    result = record["result"] if record else None
    return {
        "id": job_id,
        "task": meta.get("task") or (history[0].task if history else ""),
        "state": state,
        "rq_status": rq_status or (history[-1].rq_status if history else ""),
        "progress": last_progress or {"done": 0, "total": 0, "percent": 0.0, "message": ""},
        "attempt": max((e.attempt for e in history), default=int(meta.get("attempt", 0))),
        "max_retries": int(meta.get("max_retries", 0)),
        "retry_plan": meta.get("retry_plan", []),
        "result": result,
        "error": error,
        "reason": reason,
        "redrive_of": meta.get("redrive_of"),
        "batch": meta.get("batch"),
        "student": meta.get("student"),
        "engine": meta.get("engine") or engine,
        "events": [e.to_dict() for e in history] if with_events else None,
        "last_event_id": history[-1].id if history else None,
    }


def wait_for(conn: redis.Redis, job_id: str, timeout: float = 30.0, states: set[str] | None = None) -> events.Replay:
    """Block until the job reaches one of ``states`` (default: a terminal one); return its replay."""
    targets = states or {"completed", "failed"}
    deadline = time.monotonic() + timeout
    after = "0-0"
    seen: list[events.Event] = []
    while True:
        new = events.wait_job_events(conn, job_id, after=after, block_ms=200)
        seen += new
        if new:
            after = new[-1].id
        if seen and seen[-1].state in targets:
            if seen[-1].event == "failed":  # dead_lettered follows failed within milliseconds
                seen += events.wait_job_events(conn, job_id, after=seen[-1].id, block_ms=1000)
            return events.replay(seen)
        if time.monotonic() > deadline:
            raise not_done(conn, job_id, seen[-1].state if seen else "unknown", timeout)


def not_done(conn: redis.Redis, job_id: str, state: str, timeout: float) -> TimeoutError:
    """The TimeoutError for a job still ``state`` after ``timeout`` s, saying why a pending one cannot start."""
    backlog = engine_for(job_engine(conn, job_id)).backlog(conn, job_id) if state in {"pending", "unknown"} else None
    return TimeoutError(why_not_done(job_id, state, timeout, backlog))


def why_not_done(job_id: str, state: str, timeout: float, backlog: dict[str, Any] | None = None) -> str:
    """The line a job that did not finish in time gets: for a pending one, why it cannot start.

    ``backlog`` is what its engine says of its queue (:meth:`labs.engines.Engine.backlog`): the queue's
    name, how many jobs are ahead of it (None: not in the queue itself, e.g. waiting for a retry) and how
    many live workers listen on that queue. A student is told that 5,000 jobs are ahead, or that nobody
    listens, rather than left to guess.
    """
    head = f"job {job_id} still {state} after {timeout:g} s"
    if not backlog:
        return f"{head} (is a worker running?)" if state == "pending" else head
    queue, ahead, listeners = backlog["queue"], backlog.get("ahead"), int(backlog.get("workers") or 0)
    waiting = f"{ahead:,} job{'' if ahead == 1 else 's'} ahead of it in queue {queue!r}" if ahead else ""
    if not listeners:
        return f"{head}: no worker listens on queue {queue!r}" + (f" ({waiting})" if waiting else "")
    workers = f"{listeners} worker{'' if listeners == 1 else 's'} listen{'s' if listeners == 1 else ''} on it"
    if waiting:
        return f"{head}: {waiting} ({workers})"
    if ahead is None:
        return f"{head}: not in queue {queue!r} yet (a retry's wait?); {workers}"
    return f"{head}: first in queue {queue!r}; {workers} (all busy?)"
