"""Which job this process is running now, whatever engine runs it.

A job body asks :func:`current_job` (through ``progress()``, or for its attempt
number) instead of asking one engine: an engine that runs a body sets the
context with :func:`running`; under RQ, whose worker knows its job anyway,
the context comes from RQ's ``get_current_job()``. Outside a job there is
none, so a body also runs as a plain function.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from rq import get_current_job

from .settings import settings


@dataclass
class JobContext:
    """The running job as a body and ``progress()`` see it."""

    id: str
    conn: Any
    engine: str
    task: str
    attempt: int
    worker: str
    meta: dict[str, Any] = field(default_factory=dict)
    status: str = "started"
    """The engine's own word for a running job (goes into the events' ``rq_status``)."""
    save_progress: Callable[[Any, dict[str, Any]], Any] | None = None
    """Queues the commands that keep the progress in the engine's own record, on the event's pipeline."""
    after_progress: Callable[[dict[str, Any]], Any] | None = None
    """Called after a progress event (Celery: ``update_state(state="PROGRESS", meta=...)``, as in the seed)."""
    guard: Callable[[], AbstractContextManager[Any]] | None = None
    """Held around each progress event; raises when the engine has ended this attempt while the body still runs
    (ARQ: a body in a thread cannot be killed when its attempt times out or is aborted, and must not write after)."""


_current: ContextVar[JobContext | None] = ContextVar("lab_current_job", default=None)


@contextlib.contextmanager
def running(ctx: JobContext) -> Iterator[JobContext]:
    """Make ``ctx`` the current job while the body runs."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def _rq_context() -> JobContext | None:
    job = get_current_job()
    if job is None:
        return None

    def save(pipe: Any, info: dict[str, Any]) -> None:  # RQ's save_meta, in the event's round trip
        job.meta["progress"] = info
        pipe.hset(job.key, "meta", job.serializer.dumps(job.meta))

    return JobContext(
        id=job.id,
        conn=job.connection,
        engine=str(job.meta.get("engine", "rq")),
        task=job.meta.get("task", ""),
        attempt=int(job.meta.get("attempt", 1)),
        worker=job.worker_name or settings().rq_worker_id,
        meta=job.meta,
        save_progress=save,
    )


def current_job() -> JobContext | None:
    """The job this process (or thread) is running, or None outside a job."""
    return _current.get() or _rq_context()


def current_attempt() -> int:
    """1 for the first delivery, 2 for the first redelivery, ... (1 outside a job)."""
    job = current_job()
    return job.attempt if job else 1
