"""The lab's instrumented workers (类比1: 配送员 / the couriers).

RQ's own worker classes, with a mixin that records every lifecycle event as it
happens (started, completed, retry scheduled, timed out, cancelled, abandoned,
failed, dead-lettered) from inside the worker, rather than by polling RQ's
registries. It also:

- refuses any job whose function is not in the task catalogue (the allow-list),
- treats :class:`~labs.errors.PermanentError` as "do not redeliver",
- writes the events that end an attempt in the same transaction as RQ's own
  write of that end (finished, failed, stopped, retried), so no crash can put
  the log and RQ at odds, and repairs in its maintenance any job whose log
  and RQ disagree all the same (the events appended, marked ``reconciled``),
- with fair share on (:mod:`labs.fairness`), serves the instructor's priority
  queue first and the students' queues round-robin, re-reading which queues
  there are before every dequeue,
- shortens RQ's heartbeat grace and maintenance interval by ``LAB_TIME_SCALE``
  so a worker killed mid-job is noticed in a lesson, not ten minutes later,
  while a job whose worker is alive on this machine is never taken for
  abandoned because its heartbeat came late (a busy machine).
"""

from __future__ import annotations

import importlib
import math
import os
import signal
import socket
from dataclasses import dataclass
from typing import Any

import redis
from rq import SimpleWorker, SpawnWorker, Worker, worker_registration
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.registry import clean_registries
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.timeouts import JobTimeoutException
from rq.utils import current_timestamp, str_to_date
from rq.utils import now as utcnow

from . import events, fairness, keys
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


Planned = tuple[str, str, dict[str, Any]]
"""One event to append: (event, state, its fields for :func:`events.emit`)."""


def failure_events(
    job: Job,
    worker: str,
    reason: str,
    error: str,
    will_retry: bool,
    delay: dict[str, float] | None,
    attempt: int,
) -> list[Planned]:
    """The events for an attempt that did not succeed: its marker, then the verdict."""
    task = job.meta.get("task", "") or (task_name_of(job.func_name) or "")
    common = {"task": task, "attempt": attempt, "worker": worker, **events.tags(job.meta)}
    if reason == "cancelled":
        return [("cancelled", "failed", {"rq_status": "stopped", "reason": "cancelled", "error": error,
                                         "message": "cancelled while running", **common})]  # fmt: skip
    planned: list[Planned] = []
    if reason in {"timeout", "abandoned"}:
        marker = "timed_out" if reason == "timeout" else "abandoned"
        # a marker of how the attempt ended; the verdict (retry or failed) follows
        planned.append((marker, "running", {"rq_status": "started", "reason": reason, "error": error,
                                            "message": error, **common}))  # fmt: skip
    if will_retry and delay is not None:
        planned.append(("retry_scheduled", "pending", {"rq_status": "scheduled", "reason": reason, "error": error,
                        "next_attempt": attempt + 1, "message": f"redelivery in {delay['delay']:g} s",
                        **delay, **common}))  # fmt: skip
        return planned
    exhausted = int(job.meta.get("max_retries", 0) or 0) > 0 and reason not in {"permanent"}
    planned.append(("failed", "failed", {"rq_status": "failed", "reason": reason, "error": error,
                                         "retries_exhausted": exhausted, "message": error, **common}))  # fmt: skip
    planned.append(("dead_lettered", "failed", {"rq_status": "failed", "reason": reason, "error": error,
                    "attempts": attempt, "message": "sent to the dead-letter queue", **common}))  # fmt: skip
    return planned


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
    """Append the events for an attempt that did not succeed (see :func:`failure_events`)."""
    for event, state, fields in failure_events(job, worker, reason, error, will_retry, delay, attempt):
        events.emit(conn, job.id, event, state, **fields)


def die_at(point: str, horse: bool) -> None:
    """``LAB_FAULT``: SIGKILL this worker at ``point``, as a crash would.

    A work horse takes its worker with it; a worker the lab started leads its own process group, which
    is killed whole, so RQ's scheduler process dies too rather than lingering as an orphan.
    """
    if settings().fault != point:
        return
    worker = os.getppid() if horse else os.getpid()
    if os.getpgid(worker) == worker:
        os.killpg(worker, signal.SIGKILL)
    os.kill(worker, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


class AttemptEnd:
    """The events that end an attempt, carried in the pipeline RQ executes to record that end.

    RQ writes a job's end (status, registries, result) in one MULTI/EXEC; the
    events ride in it as ``EVALSHA`` appends, so no crash can leave RQ saying
    finished and the log saying running, and the events cost no round trip of
    their own. RQ's pipeline replies are its own: an error in an append (a
    script the server lost: ``NOSCRIPT``) is appended again the ordinary way
    and never reaches RQ, RQ's own errors reach RQ as before.
    """

    def __init__(self, conn: Any, job_id: str, planned: list[Planned], point: str, horse: bool) -> None:
        self.conn, self.point, self.horse = conn, point, horse
        self.drift = settings().fault == f"drift_{point}"  # keeps the appends out, as the lab did before issue 18
        self.appends = [events.append_command(conn, job_id, event, state, **fields) for event, state, fields in planned]
        self.sent = False

    def ride(self, pipeline: Any) -> None:
        """Queue the appends on RQ's ``pipeline`` (again after a ``WatchError``) and read their replies at its execute."""
        if pipeline.watching and not pipeline.explicit_transaction:
            return  # not buffering (no MULTI yet): the appends follow RQ's handler the ordinary way
        start = len(pipeline.command_stack)
        count = 0 if self.drift else len(self.appends)
        for command, _ in self.appends[:count]:
            pipeline.execute_command(*command)
        execute = type(pipeline).execute

        def execute_with_events(raise_on_error: bool = True) -> list[Any]:
            self.sent = True
            replies = execute(pipeline, raise_on_error=False)
            ours = replies[start : start + count]
            die_at(self.point, self.horse)
            die_at(f"drift_{self.point}", self.horse)
            if count:
                pairs = zip(ours, self.appends, strict=True)
                appended = [events.append_reply(reply, call, self.conn) for reply, (_, call) in pairs]
                self.note_late(appended)
            else:
                self.append_now()
            errors = [reply for i, reply in enumerate(replies) if isinstance(reply, Exception) and not start <= i < start + count]
            if raise_on_error and errors:
                raise errors[0]
            return replies

        pipeline.execute = execute_with_events

    def append_now(self) -> None:
        """The appends the ordinary way (RQ ended the attempt without executing the pipeline they rode in)."""
        self.note_late([events.emit(self.conn, **call) for _, call in self.appends])

    def note_late(self, appended: list[tuple[str, int]]) -> None:
        """The log dropped this attempt's end (the job had ended meanwhile): say so, if it was a duplicate delivery."""
        dropped = [call for (event_id, _), (_, call) in zip(appended, self.appends, strict=True) if not event_id]
        if dropped and dropped[0]["event"] not in events.ANNOTATIONS:
            record_duplicate_delivery(self.conn, dropped[0])


def taken_for_abandoned(conn: Any, job_id: str, worker: str, attempt: int) -> bool:
    """Whether the log took ``worker``'s attempt ``attempt`` of the job for abandoned after it started."""
    history = events.job_events(conn, job_id)
    starts = [i for i, e in enumerate(history) if e.event == "started" and e.worker == worker and e.attempt == attempt]
    return bool(starts) and any(e.event == "abandoned" and e.attempt == attempt for e in history[starts[0] :])


def record_duplicate_delivery(conn: Any, call: dict[str, Any]) -> bool:
    """Append ``duplicate_delivery`` for an attempt whose end (``call``, an :func:`events.emit` call) came too late.

    A worker cut off the network is taken for dead once its heartbeat runs out and its job is delivered
    again; when the link comes back, its own attempt ends too, after the job's outcome. The log keeps
    that outcome (terminal states are final) and records the late end beside it, visibly, instead of
    dropping it unseen. Only for an attempt the log saw start and then took for ``abandoned`` (a late
    end that lost a race with a cancel is no duplicate delivery, and stays dropped); True if recorded.
    """
    job_id, worker, attempt = call["job_id"], call.get("worker", ""), call.get("attempt", 0)
    if not taken_for_abandoned(conn, job_id, worker, attempt):
        return False
    outcome = events.current_state(conn, job_id) or "running"  # the redelivery's state: the annotation keeps it
    late = call["event"]
    fields = {name: call[name] for name in ("engine", "batch") if name in call}
    events.emit(
        conn, job_id, "duplicate_delivery", outcome, task=call.get("task", ""), rq_status=call.get("rq_status", ""),
        attempt=attempt, worker=worker, late_event=late, late_state=call["state"], outcome=outcome,
        message=f"attempt {attempt} on {worker} ended ({late}) after it was taken for abandoned and delivered "
        f"again: a duplicate delivery, not recorded (the job is {outcome})",
        **fields,
    )  # fmt: skip
    return True


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


RECONCILE_BATCH = 1000
"""Entries of ``lab:states`` one maintenance pass looks at (HSCAN's COUNT): a pass stays short however many jobs."""

_REPAIRS: dict[str, tuple[tuple[str, str], ...]] = {
    "finished": (("completed", "completed"),),
    "failed": (("failed", "failed"), ("dead_lettered", "failed")),
    "stopped": (("cancelled", "failed"),),
    "scheduled": (("retry_scheduled", "pending"),),
    "queued": (("retry_scheduled", "pending"),),
}
"""The events a log that says ``running`` misses when RQ's status is the key (the attempt ended without it)."""


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def worker_gone(conn: Any, name: str) -> bool:
    """Whether RQ worker ``name`` is gone: unregistered (its key expired), or its process dead on this machine."""
    if not name:
        return True
    host, pid = conn.hmget(Worker.redis_worker_namespace_prefix + name, "hostname", "pid")
    if host is None:
        return True
    return _text(host) == socket.gethostname() and not (pid and pid_alive(int(pid)))


def _silent_for(*stamps: str) -> float:
    """Seconds since the newest of RQ's timestamps (``inf`` without one)."""
    dates = [str_to_date(stamp) for stamp in stamps if stamp]
    return (utcnow() - max(dates)).total_seconds() if dates else math.inf


def reconcile_job(conn: Any, job_id: str, worker: str, grace: float | None = None) -> bool:
    """Append what the log misses for a job it says is running while RQ says the attempt ended; True if it did.

    The appended events carry ``reconciled: true`` and the drift found. Only a job whose worker is gone, or
    silent (no heartbeat, no end) for longer than the heartbeat grace, is repaired, so a live worker about
    to append the event itself is never raced; and the repair is a WATCH transaction on RQ's job and the
    job's stream: a status change or an event landing meanwhile makes it stand back until the next pass.
    """
    grace = _heartbeat_grace() if grace is None else grace
    job_key, stream = Job.key_for(job_id), keys.job_stream(job_id)
    with conn.pipeline() as pipe:
        try:
            pipe.watch(job_key, stream)
            status, owner, heartbeat, ended = map(
                _text, pipe.hmget(job_key, "status", "worker_name", "last_heartbeat", "ended_at")
            )
            repairs = _REPAIRS.get(status)
            if not repairs or events.current_state(pipe, job_id) != "running":
                return False
            if not worker_gone(pipe, owner) and _silent_for(heartbeat, ended) < grace:
                return False
            last = [events.parse(i, raw) for i, raw in pipe.xrevrange(stream, count=1)]
            if not last:
                return False
            drift = f"RQ says {status}, the log said running: worker {owner or '?'} ended the attempt in RQ, not in the log"
            fields = {
                "task": last[0].task, "attempt": last[0].attempt, "worker": worker, "rq_status": status,
                **{name: last[0].data[name] for name in ("engine", "batch") if name in last[0].data},
                "reconciled": True, "reason": "reconciled", "drift": drift, "message": f"reconciled: {drift}",
            }  # fmt: skip
            appends = [events.append_command(conn, job_id, event, state, **fields) for event, state in repairs]
            pipe.multi()
            for command, _ in appends:
                pipe.execute_command(*command)
            replies = pipe.execute(raise_on_error=False)
        except redis.WatchError:
            return False
    for reply, (_, call) in zip(replies, appends, strict=True):
        events.append_reply(reply, call, conn)  # NOSCRIPT (a flushed server): appended the ordinary way
    return True


def reconcile_log(conn: Any, worker: str, batch: int = RECONCILE_BATCH) -> list[str]:
    """One slice of ``lab:states`` checked against RQ (:func:`reconcile_job`); returns the ids repaired.

    A cursor in Redis (``lab:reconcile:cursor``) carries the scan on from one maintenance pass to the next,
    whichever worker runs it, so every job is looked at within a bounded number of passes.
    """
    cursor, found = conn.hscan(keys.JOB_STATES, int(_text(conn.get(keys.RECONCILE_CURSOR)) or 0), count=batch)
    conn.set(keys.RECONCILE_CURSOR, cursor)
    return [
        _text(job_id)
        for job_id, state in found.items()
        if _text(state) == "running" and reconcile_job(conn, _text(job_id), worker)
    ]


class LabWorkerMixin:
    """Records the lifecycle event log from inside RQ's worker."""

    lab_kind = "fork"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("serializer", SERIALIZER)
        kwargs.setdefault("maintenance_interval", _seconds(10, 1))
        kwargs.setdefault("job_monitoring_interval", _seconds(5, 1))
        kwargs.setdefault("worker_ttl", 30)
        super().__init__(*args, **kwargs)
        self._lab_fair = len(self.queues) == 1 and fairness.enabled()  # else noticed at the first maintenance pass
        self._lab_last: str | None = None  # fair share: the queue of the last job taken, the round-robin's place
        self._lab_lanes: dict[str, Any] = {}
        self._lab_exc: BaseException | None = None
        self._lab_abandoned = False
        self._lab_end: AttemptEnd | None = None
        self.push_exc_handler(AbandonedJobHandler(self.name))

    # -- bookkeeping ------------------------------------------------------
    @property
    def dequeue_timeout(self) -> int:
        """How long an idle worker waits for a job before its next maintenance pass (RQ: worker_ttl - 15).

        Capped by the (scaled) maintenance interval, so an idle worker notices a
        dead one's abandoned job in a lesson, not 15 s later.

        With fair share, at most a second: a student's first job may wait in a queue the blocking pop does
        not watch yet (it re-reads the queues each time round).
        """
        longest = 1 if getattr(self, "_lab_fair", False) else int(self.maintenance_interval)
        return max(1, min(self.worker_ttl - 15, longest))

    # -- fair share ---------------------------------------------------------
    def _notice_fair_share(self) -> None:
        """Serve the students' and priority queues from now on if fair share is on here or jobs went to them."""
        if not self._lab_fair and len(self.queues) == 1:
            self._lab_fair = fairness.enabled() or fairness.in_use(self.connection, self.queues[0].name)

    @property
    def _ordered_queues(self) -> list[Any]:
        """The queues RQ's dequeue tries, in order (it reads this before every pop).

        With fair share (:func:`labs.fairness.queues_to_serve`): the priority queue, then the lab queue and every
        student's, round-robin from after the last one served, read from Redis each time so new students are
        served. Without: RQ's own list, as RQ keeps it.
        """
        if not getattr(self, "_lab_fair", False):
            return self._lab_ordered
        names = fairness.queues_to_serve(self.connection, after=self._lab_last, base=self.queues[0].name)
        return [self._lab_lane(name) for name in names]

    @_ordered_queues.setter
    def _ordered_queues(self, queues: list[Any]) -> None:
        self._lab_ordered = queues

    def _lab_lane(self, name: str) -> Any:
        lane = self._lab_lanes.get(name)
        if lane is None:
            lane = self._lab_lanes[name] = self.queue_class(
                name, connection=self.connection, job_class=self.job_class, serializer=self.serializer
            )
        return lane

    def reorder_queues(self, reference_queue: Any) -> None:
        """Fair share: the round-robin goes on after the queue just served (the priority queue stays first)."""
        if not self._lab_fair:
            super().reorder_queues(reference_queue)  # type: ignore[misc]
        elif reference_queue.name != fairness.priority_queue(self.queues[0].name):
            self._lab_last = reference_queue.name

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
        """RQ's dequeue; a job taken from a student's or the priority queue is run as its origin's, the lab queue's."""
        result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)  # type: ignore[misc]
        if result is not None and result[1].name != result[0].origin:
            job = result[0]
            return job, next((q for q in self.queues if q.name == job.origin), self._lab_lane(job.origin))
        return result

    def run_maintenance_tasks(self) -> None:
        try:
            self._notice_fair_share()
        except Exception:  # never let a housekeeping extra stop the worker
            self.log.exception("Worker %s: could not look for the students' queues", self.name)
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
                    self._reconcile()
                finally:
                    queue.release_maintenance_lock()
        self.last_cleaned_at = utcnow()

    def _reconcile(self) -> None:
        """Repair jobs whose RQ status and log disagree (:func:`reconcile_log`), after RQ's own clean-up."""
        try:
            repaired = reconcile_log(self.connection, self.name)
        except Exception:  # never let a housekeeping extra stop the worker
            self.log.exception("Worker %s: could not reconcile the event log with RQ", self.name)
            return
        if repaired:
            self.log.warning("Worker %s: reconciled the event log of %s with RQ", self.name, ", ".join(repaired))

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

    def _fields(self, job: Job, **data: Any) -> dict[str, Any]:
        """The fields every event this worker records for ``job`` carries, plus ``data``."""
        status = job.get_status(refresh=False)
        return {
            "task": job.meta.get("task", "") or (task_name_of(job.func_name) or ""),
            "rq_status": str(status.value) if status else "",
            "attempt": attempt_of(job),
            "worker": self.name,
            **events.tags(job.meta),
            **data,
        }

    def _emit(self, job: Job, event: str, state: str, **data: Any) -> None:
        events.emit(self.connection, job.id, event, state, **self._fields(job, **data))

    def cleanup_execution(self, job: Job, pipeline: Any, execution: Any = None) -> None:
        """RQ's last step in the pipeline that ends an attempt: the attempt's events ride in it (:class:`AttemptEnd`)."""
        super().cleanup_execution(job, pipeline, execution)  # type: ignore[misc]
        if self._lab_end is not None:
            self._lab_end.ride(pipeline)

    def _ending(self, job: Job, planned: list[Planned], point: str) -> None:
        """Book the events of an attempt's end for RQ's pipeline; ``point`` names its ``LAB_FAULT``."""
        self._lab_end = AttemptEnd(self.connection, job.id, planned, point, bool(self._is_horse))

    def _ended(self) -> None:
        """After RQ's handler: appends RQ never got to send (no execute) are appended the ordinary way."""
        end, self._lab_end = self._lab_end, None
        if end is not None and not end.sent:
            end.append_now()

    def _superseded(self, job: Job, event: str, state: str, execution: Any) -> bool:
        """A late end of an attempt the lab took for abandoned (this worker was cut off): it records nothing in RQ.

        The job was delivered again once this worker's heartbeat ran out, so the redelivery owns its
        outcome in RQ and in the log. Letting RQ's handler run would re-enqueue a finished job (a
        retry: one more run the log never sees) or put its status over the redelivery's. Only this
        attempt's own execution is cleaned up, and its end recorded as ``duplicate_delivery``. RQ names
        the job's current runner, so one read settles the usual case (still this worker).
        """
        if _text(self.connection.hget(job.key, "worker_name")) == self.name:
            return False
        if not taken_for_abandoned(self.connection, job.id, self.name, attempt_of(job)):
            return False
        with self.connection.pipeline() as pipeline:
            self.cleanup_execution(job, pipeline, execution)  # no attempt's end booked: nothing rides in it
            pipeline.execute()
        getattr(self, "_release_slot_safely", lambda job: None)(job)  # RQ's rate limit slot, as its handlers free it
        record_duplicate_delivery(self.connection, {"job_id": job.id, "event": event, "state": state, **self._fields(job)})
        self.log.warning(
            "Worker %s: job %s was delivered again while this worker was cut off: its end is a duplicate", self.name, job.id
        )
        return True

    # -- start ------------------------------------------------------------
    def allows(self, job: Job) -> bool:
        """Whether this worker may run ``job``: its function must be in the task catalogue."""
        return task_name_of(job.func_name) is not None

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        super().prepare_job_execution(job, remove_from_intermediate_queue)
        job.meta["attempt"] = attempt_of(job)
        if "submitted_at" not in job.meta and not self.connection.exists(keys.job_stream(job.id)):
            # enqueued straight into Redis, not through labs.jobs.submit(): record it so the log stays whole
            self._emit(job, "enqueued", "pending", message="enqueued outside the lab (not through submit())")
        self._emit(job, "started", "running", message=f"attempt {attempt_of(job)} on {self.name}")
        if not self.allows(job):
            raise ForbiddenTask(f"{job.func_name!r} is not in the lab's task catalogue")
        if events.cancel_requested_at_last_emit(job.id):
            raise JobCancelled("cancelled before it started")

    # -- success ----------------------------------------------------------
    def handle_job_success(self, job: Job, queue: Any, started_job_registry: Any, execution: Any) -> None:
        """RQ's success handling, with ``completed`` in the same transaction as RQ's ``finished``."""
        if self._superseded(job, "completed", "completed", execution):
            return
        self._ending(job, [("completed", "completed", self._fields(job, message="done"))], "after_rq_finish")
        try:
            super().handle_job_success(job, queue, started_job_registry, execution)
        finally:
            self._ended()

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
        planned = failure_events(job, self.name, reason, error, will_retry, delay, attempt)
        if self._superseded(job, planned[0][0], planned[0][1], execution):
            return
        self._ending(job, planned, "after_rq_fail")  # in RQ's transaction that marks it failed, stopped or retried
        try:
            super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)
        finally:
            self._ended()


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
