"""Sending parcels and asking where they are: submit, cancel and look up jobs.

:func:`submit` is the seed's ``.delay()``: it validates the task against the
catalogue, plans its retries, records the ``enqueued`` event *before* the job
reaches the queue (so no worker can start it first) and returns the job id,
the parcel's tracking number (快递单号).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import uuid
from typing import Any

import redis
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from . import events, keys, students
from .catalogue import get_spec
from .clock import scaled
from .errors import InvalidParams, LabError
from .retry import RetryPolicy, to_rq
from .states import is_terminal, state_of
from .task_queue import SERIALIZER, fetch_job, lab_queue

RESULT_TTL = 7 * 24 * 3600
FAILURE_TTL = 7 * 24 * 3600
PENDING_STATUSES = {"queued", "scheduled", "deferred", "created"}


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


def job_timeout(seconds: float) -> int:
    """A timeout in demo seconds as RQ's whole seconds (scaled; RQ's alarm needs >= 1 s)."""
    return max(1, math.ceil(scaled(seconds)))


def submit(
    conn: redis.Redis,
    task: str,
    params: dict[str, Any] | None = None,
    *,
    retry: RetryPolicy | dict[str, Any] | None = None,
    timeout: float | None = None,
    redrive_of: str | None = None,
    job_id: str | None = None,
    batch: str | None = None,
    student: str | None = None,
) -> str:
    """Validate and enqueue one catalogue task; return its job id (快递单号).

    ``student`` records whose job it is in a classroom (see :mod:`labs.students`).
    """
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
    }
    data: dict[str, Any] = {"params": kwargs, "retry_plan": delays, "timeout": timeout_demo}
    if redrive_of:
        data["redrive_of"] = redrive_of
    if batch:
        data["batch"] = batch
    students.set_owner(conn, job_id, student)  # every event of the job will carry the name
    events.emit(conn, job_id, "enqueued", "pending", task=task, rq_status="queued", attempt=0, **data)
    try:
        lab_queue(conn).enqueue(
            spec.func,
            kwargs=kwargs,
            job_id=job_id,
            retry=to_rq(delays),
            job_timeout=job_timeout(timeout_demo),
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
            meta=meta,
            description=f"{task}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"[:200],
        )
    except Exception as exc:
        events.emit(conn, job_id, "failed", "failed", task=task, reason="enqueue_error", error=str(exc))
        raise
    return job_id


def _worker_kind(conn: redis.Redis, worker_name: str | None) -> str:
    if not worker_name:
        return ""
    value = conn.hget(f"rq:worker:{worker_name}", "lab_kind")
    return value.decode() if value else ""


def cancel(conn: redis.Redis, job_id: str) -> str:
    """Cancel a job: a pending one never runs, a running one is stopped.

    A forking worker's job is stopped with RQ's stop-job command; on every
    worker kind the job's cancel flag makes its next ``progress()`` call raise.
    Either way the job ends ``failed`` with reason ``cancelled``. Returns the
    job's state after the request.
    """
    try:
        job = fetch_job(conn, job_id)
    except NoSuchJobError:
        raise UnknownJob(f"no job with id {job_id!r}") from None
    status = job.get_status().value
    if is_terminal(state_of(status)):
        return state_of(status)
    conn.set(keys.cancel_flag(job_id), "1", ex=FAILURE_TTL)
    task = job.meta.get("task", "")
    if status in PENDING_STATUSES:
        with contextlib.suppress(InvalidJobOperation):
            job.cancel()
        if job.get_status().value == "canceled":
            events.emit(
                conn, job_id, "cancelled", "failed", task=task, rq_status="canceled",
                attempt=int(job.meta.get("attempt", 1)) - 1, reason="cancelled",
                message="cancelled before a worker picked it up",
            )  # fmt: skip
            return "failed"
    if job.get_status().value == "started" and _worker_kind(conn, job.worker_name) in {"fork", "spawn"}:
        with contextlib.suppress(InvalidJobOperation, NoSuchJobError):
            send_stop_job_command(conn, job_id, serializer=SERIALIZER)
    return state_of(job.get_status().value)


def job_view(conn: redis.Redis, job_id: str, *, with_events: bool = True) -> dict[str, Any]:
    """Everything known about one job, from RQ's record and the event log."""
    history = events.job_events(conn, job_id)
    try:
        job: Job | None = fetch_job(conn, job_id)
    except NoSuchJobError:
        job = None
    if job is None and not history:
        raise UnknownJob(f"no job with id {job_id!r}")
    rq_status = job.get_status(refresh=False).value if job and job.get_status(refresh=False) else ""
    # the state comes from the history read above, so the view is one consistent snapshot
    state = history[-1].state if history else state_of(rq_status)
    meta = job.meta if job else {}
    last_progress = next((e.progress for e in reversed(history) if e.progress), None)
    reason = next((e.data.get("reason") for e in reversed(history) if e.data.get("reason")), None)
    error = next((e.data.get("error") for e in reversed(history) if e.data.get("error")), None)
    result = None
    if job is not None and rq_status == JobStatus.FINISHED.value:
        result = job.return_value()
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
            state = seen[-1].state if seen else "unknown"
            raise TimeoutError(f"job {job_id} still {state} after {timeout} s (is a worker running?)")
