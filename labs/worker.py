"""The lab's instrumented workers (类比1: 配送员 / the couriers).

RQ's own worker classes, with a mixin that records every lifecycle event as it
happens (started, completed, retry scheduled, timed out, cancelled, abandoned,
failed, dead-lettered) from inside the worker, rather than by polling RQ's
registries. It also:

- refuses any job whose function is not in the task catalogue (the allow-list),
- treats :class:`~labs.errors.PermanentError` as "do not redeliver",
- shortens RQ's heartbeat grace and maintenance interval by ``LAB_TIME_SCALE``
  so a worker killed mid-job is noticed in a lesson, not ten minutes later,
  while a job whose worker is alive on this machine is never taken for
  abandoned because its heartbeat came late (a busy machine).
"""

from __future__ import annotations

import importlib
import math
import os
import socket
from dataclasses import dataclass
from typing import Any

from rq import SimpleWorker, SpawnWorker, Worker, worker_registration
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.registry import clean_registries
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.timeouts import JobTimeoutException
from rq.utils import current_timestamp
from rq.utils import now as utcnow

from . import events
from .broker import ride_out_outages
from .catalogue import body_modules, task_name_of
from .clock import scaled
from .errors import JobCancelled, PermanentError
from .settings import settings
from .task_queue import SERIALIZER


class ForbiddenTask(PermanentError):
    """A job whose function is not in the lab's catalogue: the worker refuses to run it."""


def _seconds(demo_seconds: float, minimum: int) -> int:
    return max(minimum, math.ceil(scaled(demo_seconds)))


def _heartbeat_grace() -> int:
    """Seconds a running job may stay silent before it counts as abandoned (RQ: 60)."""
    return _seconds(settings().heartbeat_grace, 2)


def attempt_of(job: Job) -> int:
    """Which delivery this is: 1 for the first, 2 for the first redelivery, ..."""
    max_retries = int(job.meta.get("max_retries", 0) or 0)
    left = job.retries_left if job.retries_left is not None else max_retries
    return max(1, max_retries - left + 1)


def _error_line(exc: BaseException | None, exc_string: str) -> str:
    if exc is not None:
        return f"{type(exc).__name__}: {exc}"[:500]
    lines = [line for line in exc_string.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "unknown error")[:500]


def planned_delay(job: Job) -> dict[str, float]:
    """The wait booked for the next redelivery: in demo seconds (as planned) and in real seconds."""
    plan = list(job.meta.get("retry_plan") or [])
    index = max(0, attempt_of(job) - 1)
    demo = float(plan[index]) if index < len(plan) else 0.0
    return {"delay": demo, "delay_seconds": float(job.get_retry_interval())}


def record_failure(
    conn: Any,
    job: Job,
    worker: str,
    reason: str,
    error: str,
    will_retry: bool,
    delay: dict[str, float] | None,
    attempt: int,
) -> None:
    """Append the events for an attempt that did not succeed: its marker, then the verdict."""
    task = job.meta.get("task", "") or (task_name_of(job.func_name) or "")
    common = {"task": task, "attempt": attempt, "worker": worker, **events.tags(job.meta)}
    if reason == "cancelled":
        events.emit(conn, job.id, "cancelled", "failed", rq_status="stopped", reason="cancelled", error=error,
                    message="cancelled while running", **common)  # fmt: skip
        return
    if reason in {"timeout", "abandoned"}:
        marker = "timed_out" if reason == "timeout" else "abandoned"
        # a marker of how the attempt ended; the verdict (retry or failed) follows
        events.emit(conn, job.id, marker, "running", rq_status="started",
                    reason=reason, error=error, message=error, **common)  # fmt: skip
    if will_retry and delay is not None:
        events.emit(conn, job.id, "retry_scheduled", "pending", rq_status="scheduled", reason=reason,
                    error=error, next_attempt=attempt + 1, message=f"redelivery in {delay['delay']:g} s",
                    **delay, **common)  # fmt: skip
        return
    exhausted = int(job.meta.get("max_retries", 0) or 0) > 0 and reason not in {"permanent"}
    events.emit(conn, job.id, "failed", "failed", rq_status="failed", reason=reason, error=error,
                retries_exhausted=exhausted, message=error, **common)  # fmt: skip
    events.emit(conn, job.id, "dead_lettered", "failed", rq_status="failed", reason=reason, error=error,
                attempts=attempt, message="sent to the dead-letter queue", **common)  # fmt: skip


@dataclass(frozen=True)
class AbandonedJobHandler:
    """RQ exception handler: the registry clean-up found a job whose worker died.

    A picklable object rather than a bound method, so that ``SpawnWorker`` can
    hand the worker's configuration to its work horse.
    """

    worker: str

    def __call__(self, job: Job, exc_type: Any, exc_value: Any, tb: Any) -> bool:
        if exc_type is not AbandonedJobError and not isinstance(exc_value, AbandonedJobError):
            return True
        will_retry = bool(job.retries_left and job.retries_left > 0)
        delay = planned_delay(job) if will_retry else None
        error = "the worker running this job stopped answering (killed or crashed)"
        record_failure(job.connection, job, self.worker, "abandoned", error, will_retry, delay, attempt_of(job))
        return True


_DELETE_IF_OWNER = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this machine (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LabWorkerMixin:
    """Records the lifecycle event log from inside RQ's worker."""

    lab_kind = "fork"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("serializer", SERIALIZER)
        kwargs.setdefault("maintenance_interval", _seconds(10, 1))
        kwargs.setdefault("job_monitoring_interval", _seconds(5, 1))
        kwargs.setdefault("worker_ttl", 30)
        super().__init__(*args, **kwargs)
        self._lab_exc: BaseException | None = None
        self._lab_abandoned = False
        self.push_exc_handler(AbandonedJobHandler(self.name))

    # -- bookkeeping ------------------------------------------------------
    @property
    def dequeue_timeout(self) -> int:
        """How long an idle worker waits for a job before its next maintenance pass (RQ: worker_ttl - 15).

        Capped by the (scaled) maintenance interval, so an idle worker notices a
        dead one's abandoned job in a lesson, not 15 s later.
        """
        return max(1, min(self.worker_ttl - 15, int(self.maintenance_interval)))

    def run_maintenance_tasks(self) -> None:
        try:
            self._reclaim_dead_scheduler_lock()
        except Exception:  # never let a housekeeping extra stop the worker
            self.log.exception("Worker %s: could not check the scheduler lock", self.name)
        try:
            events.forget_expired(self.connection)  # the lab's job index would grow for ever
        except Exception:
            self.log.exception("Worker %s: could not trim the job index", self.name)
        super().run_maintenance_tasks()

    def clean_registries(self) -> None:
        """RQ's registry clean-up (it finds abandoned jobs), with a short-lived lock.

        RQ holds the per-queue maintenance lock for up to 899 s and releases it
        only when the pass ends: a worker stopped or killed mid-pass would block
        every clean-up, abandoned jobs included, for 15 minutes. Here the lock
        lives a few maintenance intervals and is released whatever happens.
        """
        for queue in self.queues:
            if queue.acquire_maintenance_lock():
                try:
                    self.connection.expire(queue.registry_cleaning_key, max(5, 3 * int(self.maintenance_interval)))
                    self._spare_live_jobs(queue)
                    clean_registries(queue, self._exc_handlers)
                    worker_registration.clean_worker_registry(queue)
                    queue.intermediate_queue.cleanup(self, queue)
                finally:
                    queue.release_maintenance_lock()
        self.last_cleaned_at = utcnow()

    def _spare_live_jobs(self, queue: Any) -> int:
        """Extend the heartbeat of expired jobs whose worker is alive on this machine; return how many.

        The lab's heartbeat grace is a few seconds, so that a killed worker's
        job is redelivered within a lesson. On a loaded machine a live worker
        can miss that deadline, and RQ would then run its job a second time
        while the first run goes on. A worker on this host whose process
        exists is not dead: its job keeps its place. Workers on other machines
        are judged by their heartbeat alone, as RQ does.
        """
        registry = queue.started_job_registry
        spared = 0
        for entry in self.connection.zrangebyscore(registry.key, 0, current_timestamp()):
            job_id = registry.parse_job_id(entry.decode() if isinstance(entry, bytes) else entry)
            worker = self.connection.hget(Job.key_for(job_id), "worker_name")
            if not worker:
                continue
            host, pid = self.connection.hmget(self.redis_worker_namespace_prefix + worker.decode(), "hostname", "pid")
            if host and pid and host.decode() == socket.gethostname() and pid_alive(int(pid)):
                ttl = int(self.job_monitoring_interval) + _heartbeat_grace()
                self.connection.zadd(registry.key, {entry: current_timestamp() + ttl}, xx=True)
                spared += 1
        return spared

    def _reclaim_dead_scheduler_lock(self) -> None:
        """Free the scheduler lock of a scheduler process that died on this machine.

        RQ's lock outlives a killed scheduler by a minute, during which no retry
        is delivered. A worker that finds the lock's owner gone from this host
        releases it, and RQ's maintenance then starts a scheduler here.
        """
        for queue in self.queues:
            key = RQScheduler.get_locking_key(queue.name)
            owner = self.connection.get(key)
            if owner is None or (self.scheduler is not None and owner.decode() == self.scheduler.name):
                continue
            info = self.connection.hgetall(SCHEDULER_KEY_TEMPLATE % owner.decode())
            host, pid = info.get(b"hostname", b"").decode(), int(info.get(b"pid", b"0") or 0)
            if host == socket.gethostname() and pid and not pid_alive(pid):
                self.connection.eval(_DELETE_IF_OWNER, 1, key, owner)
                self.log.warning("Worker %s: released the scheduler lock of dead scheduler pid %s", self.name, pid)

    def register_birth(self, *args: Any, **kwargs: Any) -> None:
        super().register_birth(*args, **kwargs)
        self.connection.hset(self.key, "lab_kind", self.lab_kind)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """RQ adds 60 s of grace before a silent job counts as abandoned; the lab scales it."""
        grace = _heartbeat_grace()
        ttl = super().get_heartbeat_ttl(job, working_time)
        return max(grace, int(ttl) - 60 + grace)

    def fork_work_horse(self, job: Job, queue: Any) -> None:
        super().fork_work_horse(job, queue)
        if getattr(self, "_horse_pid", 0):
            self.connection.hset(self.key, "horse_pid", self._horse_pid)

    def _emit(self, job: Job, event: str, state: str, **data: Any) -> None:
        events.emit(
            self.connection,
            job.id,
            event,
            state,
            task=job.meta.get("task", "") or (task_name_of(job.func_name) or ""),
            rq_status=str(job.get_status(refresh=False).value) if job.get_status(refresh=False) else "",
            attempt=attempt_of(job),
            worker=self.name,
            **events.tags(job.meta),
            **data,
        )

    # -- start ------------------------------------------------------------
    def allows(self, job: Job) -> bool:
        """Whether this worker may run ``job``: its function must be in the task catalogue."""
        return task_name_of(job.func_name) is not None

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        super().prepare_job_execution(job, remove_from_intermediate_queue)
        job.meta["attempt"] = attempt_of(job)
        if "submitted_at" not in job.meta and not self.connection.exists(events.keys.job_stream(job.id)):
            # enqueued straight into Redis, not through labs.jobs.submit(): record it so the log stays whole
            self._emit(job, "enqueued", "pending", message="enqueued outside the lab (not through submit())")
        self._emit(job, "started", "running", message=f"attempt {attempt_of(job)} on {self.name}")
        if not self.allows(job):
            raise ForbiddenTask(f"{job.func_name!r} is not in the lab's task catalogue")
        if events.cancel_requested_at_last_emit(job.id):
            raise JobCancelled("cancelled before it started")

    # -- success ----------------------------------------------------------
    def handle_job_success(self, job: Job, queue: Any, started_job_registry: Any, execution: Any) -> None:
        super().handle_job_success(job, queue, started_job_registry, execution)
        self._emit(job, "completed", "completed", message="done")

    # -- failure ----------------------------------------------------------
    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        self._lab_exc = exc_info[1] if len(exc_info) > 1 else None
        super().handle_exception(job, *exc_info)

    def handle_work_horse_killed(self, job: Job, retpid: Any, ret_val: Any, rusage: Any) -> None:
        self._lab_abandoned = True
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)

    def handle_job_failure(
        self, job: Job, queue: Any, started_job_registry: Any = None, exc_string: str = "", execution: Any = None
    ) -> None:
        exc, self._lab_exc = self._lab_exc, None
        abandoned, self._lab_abandoned = self._lab_abandoned, False
        stopped = self._stopped_job_id == job.id
        if stopped or isinstance(exc, JobCancelled):
            reason = "cancelled"
        elif isinstance(exc, JobTimeoutException):
            reason = "timeout"
        elif abandoned:
            reason = "abandoned"
        elif isinstance(exc, PermanentError):
            reason = "permanent"
        else:
            reason = "error"
        attempt = attempt_of(job)
        if reason in {"cancelled", "permanent"}:
            job.retries_left = 0  # retrying cannot help: skip straight to the end
        will_retry = job.should_retry and not stopped
        delay = planned_delay(job) if will_retry else None
        error = "cancelled on request" if reason == "cancelled" else _error_line(exc, exc_string)
        super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)
        record_failure(self.connection, job, self.name, reason, error, will_retry, delay, attempt)


class LabWorker(LabWorkerMixin, Worker):
    """Forks a work horse per job (Linux, macOS): RQ's stop command can kill it."""

    lab_kind = "fork"


class LabSimpleWorker(LabWorkerMixin, SimpleWorker):
    """Runs jobs in its own process: fastest, cancel is cooperative (via ``progress()``)."""

    lab_kind = "simple"


class LabSpawnWorker(LabWorkerMixin, SpawnWorker):
    """Spawns a fresh interpreter per job (where fork is unavailable)."""

    lab_kind = "spawn"


WORKER_CLASSES: dict[str, type[Worker] | type[SimpleWorker]] = {
    "fork": LabWorker,
    "simple": LabSimpleWorker,
    "spawn": LabSpawnWorker,
}


def stop_with_parent(parent_pid: int, interval: float = 0.5) -> None:
    """Warm-stop this worker once ``parent_pid`` is gone.

    A worker started by a notebook, a test or the dashboard must not outlive
    it: an orphan worker would go on taking jobs from the queue (with another
    state folder), to the puzzlement of the next run.
    """
    import signal
    import threading
    import time

    def watch() -> None:
        while pid_alive(parent_pid):
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)  # RQ's warm shutdown: finish the current job, then stop

    threading.Thread(target=watch, name="lab-parent-watch", daemon=True).start()


def preload() -> dict[str, str]:
    """Import the catalogue's job modules and warm them up once, in the worker itself.

    A forking worker runs every job in a fresh copy of itself: without this,
    each copy would import pypdf and fastembed and probe for a model again
    (about 0.4 s per job). A body module may define ``warm_up()`` (the
    documents module chooses the embedder there); returns what each said.
    """
    warmed: dict[str, str] = {}
    for name in body_modules():
        module = importlib.import_module(name)
        warm_up = getattr(module, "warm_up", None)
        if callable(warm_up):
            warmed[name] = str(warm_up())
    return warmed


def default_kind() -> str:
    return "fork" if hasattr(os, "fork") else "spawn"


def make_worker(conn: Any, kind: str | None = None, name: str | None = None, **kwargs: Any) -> Worker:
    """A lab worker of ``kind`` ("fork", "simple" or "spawn") on the lab queue.

    Its connection rides out a broker restart (:func:`labs.broker.ride_out_outages`).
    """
    from .task_queue import lab_queue

    cls = WORKER_CLASSES[kind or default_kind()]
    return cls([lab_queue(ride_out_outages(conn))], connection=conn, name=name, **kwargs)


def run_burst(conn: Any, kind: str = "simple", **kwargs: Any) -> bool:
    """Run every queued job now, in this process, then return (self-contained cells, tests)."""
    worker = make_worker(conn, kind, **kwargs)
    return worker.work(burst=True, with_scheduler=True, logging_level="WARNING")
