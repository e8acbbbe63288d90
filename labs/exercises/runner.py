"""A private lab for the checks: the embedded broker inside the check process, and a lab worker run in bursts.

Checks run *real* jobs through the lab's own machinery (``labs.jobs.submit``,
the lab's instrumented worker, its event log, retries and dead-letter queue),
on the embedded broker (fakeredis over TCP) started inside the check process.
Nothing needs to be running first, and a check never touches the broker the
class is using: it gets its own, emptied before each exercise.

The lab's workers refuse any function outside the task catalogue. A student's
job lives in the exercise file (``labs.exercises.ex02_progress.pack_parcels``),
so :class:`ExerciseWorker` widens the allow-list by exactly the job functions
of the module under test, and nothing else.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import signal
import time
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import redis
from rq.job import Job

from .. import events, jobs
from ..broker import EmbeddedBroker
from ..clock import time_scale
from ..events import Event, Replay
from ..retry import NO_RETRY, RetryPolicy, to_rq
from ..settings import SettingsError, environment
from ..task_queue import lab_queue
from ..worker import LabSimpleWorker
from .grading import CheckTimeout, NotWritten

CHECK_TIME_SCALE = 0.05
"""The checks run the lab's clock this much faster (unless it is already faster)."""

_broker: EmbeddedBroker | None = None


def broker_url() -> str:
    """The URL of this process's private embedded broker (started on first use)."""
    global _broker
    if _broker is None:
        _broker = EmbeddedBroker(write_url=False).start()
        atexit.register(_broker.stop)
    return _broker.url


@contextlib.contextmanager
def check_environment() -> Iterator[None]:
    """A fast clock and quiet worker logs (a failing job must not print RQ's traceback)."""
    try:
        current = time_scale()
    except SettingsError:
        current = 1.0
    loggers = [logging.getLogger(name) for name in ("rq", "rq.worker", "rq.job", "rq.scheduler", "labs")]
    saved = [(lg, lg.level, lg.propagate, list(lg.handlers)) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
        lg.propagate = False
        lg.handlers = [logging.NullHandler()]
    try:
        with environment(LAB_TIME_SCALE=str(min(current, CHECK_TIME_SCALE))):
            yield
    finally:
        for lg, level, propagate, handlers in saved:
            lg.setLevel(level)
            lg.propagate = propagate
            lg.handlers = handlers


class ExerciseWorker(LabSimpleWorker):
    """The lab's in-process worker that also runs the exercise's own job functions (and only those)."""

    exercise_funcs: frozenset[str] = frozenset()

    def allows(self, job: Job) -> bool:
        return job.func_name in self.exercise_funcs or super().allows(job)


class ExerciseLab:
    """A clean broker database, catalogue tasks and the module's own jobs, and a worker to run them."""

    def __init__(self, module: ModuleType | None = None) -> None:
        self.module = module
        self.conn = redis.Redis.from_url(broker_url())
        self.conn.flushdb()
        self.funcs: set[str] = set()

    # -- submitting ---------------------------------------------------------
    def submit(self, task: str, params: dict[str, Any] | None = None, **options: Any) -> str:
        """A catalogue task, exactly as the lab submits it."""
        return jobs.submit(self.conn, task, params, **options)

    def submit_func(self, name: str, kwargs: dict[str, Any], *, retry: RetryPolicy = NO_RETRY, timeout: float = 10.0) -> str:
        """A job function from the module under test, with the same bookkeeping as ``labs.jobs.submit``.

        ``timeout`` is in real seconds: a student's endless loop is stopped by RQ's time limit.
        """
        if self.module is None:
            raise ValueError("this lab has no module under test")
        func = f"{self.module.__name__}.{name}"
        self.funcs.add(func)
        task = f"{self.module.__name__.rsplit('.', 1)[-1]}.{name}"
        delays = retry.delays()
        job_id = uuid.uuid4().hex
        meta = {
            "task": task,
            "attempt": 1,
            "max_retries": retry.max_retries,
            "retry_policy": retry.model_dump(),
            "retry_plan": delays,
            "timeout": timeout,
            "redrive_of": None,
            "submitted_at": time.time(),
        }
        events.emit(self.conn, job_id, "enqueued", "pending", task=task, rq_status="queued", attempt=0,
                    params=kwargs, retry_plan=delays, timeout=timeout)  # fmt: skip
        lab_queue(self.conn).enqueue(
            func,
            kwargs=kwargs,
            job_id=job_id,
            retry=to_rq(delays),
            job_timeout=max(1, int(timeout)),
            result_ttl=jobs.RESULT_TTL,
            failure_ttl=jobs.FAILURE_TTL,
            meta=meta,
            description=f"{task}(...)",
        )
        return job_id

    # -- running -------------------------------------------------------------
    def run(self, timeout: float = 30.0) -> None:
        """Run every queued job, and every retry as it falls due, until nothing is left."""
        deadline = time.monotonic() + timeout
        queue = lab_queue(self.conn)
        while True:
            worker = ExerciseWorker([queue], connection=self.conn, name=f"check-{uuid.uuid4().hex[:6]}")
            worker.exercise_funcs = frozenset(self.funcs)
            previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                worker.work(burst=True, with_scheduler=True, logging_level="CRITICAL")
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
            if queue.count == 0 and queue.scheduled_job_registry.count == 0:
                return
            if time.monotonic() > deadline:
                raise CheckTimeout(f"jobs still waiting after {timeout:g} s")
            time.sleep(0.05)

    # -- looking -------------------------------------------------------------
    def events(self, job_id: str) -> list[Event]:
        return events.job_events(self.conn, job_id)

    def replay(self, job_id: str) -> Replay:
        return events.replay(self.events(job_id))

    def view(self, job_id: str) -> dict[str, Any]:
        return jobs.job_view(self.conn, job_id)

    def raise_if_not_written(self, job_id: str, func: str) -> None:
        """Turn a job that died of ``NotImplementedError`` into :class:`NotWritten`."""
        if any("NotImplementedError" in str(e.data.get("error", "")) for e in self.events(job_id)):
            raise NotWritten(func)


def errors_of(replay: Replay) -> str:
    """The job's distinct errors on one line (or "-")."""
    return "; ".join(dict.fromkeys(replay.errors)) or replay.reason or "-"


def started_count(history: list[Event]) -> int:
    """How many times a job was delivered (started)."""
    return sum(1 for e in history if e.event == "started")
