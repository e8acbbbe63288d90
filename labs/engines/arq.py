"""ARQ behind the engine seam: the seed's asyncio engine (scenario 2: ARQ + SSE).

ARQ runs ``async def`` jobs on one event loop; the catalogue's bodies are plain
functions, so each runs as an ARQ job through an ``async`` wrapper that hands the
body to a thread (``asyncio.to_thread``), with the lab's job context, so
``progress()`` and the cancel flag work unchanged. Jobs are registered under
the bodies' dotted paths (``labs.tasks.demo.send_email``); a job naming any
other function is refused by the worker. JSON only, never pickle (ARQ's default).

The lifecycle events come from ARQ's own hooks:

===========================  ================================================
ARQ                          lab event
===========================  ================================================
(submit, before the job)     ``enqueued``
``on_job_start``             ``started`` (``abandoned`` first if the last delivery never ended)
``raise Retry(defer=...)``   ``retry_scheduled`` with the lab's planned wait (from ``on_job_end``)
``on_job_end``               ``timed_out`` before a retry; ``abandoned`` when the worker stops mid-job
``after_job_end``            ``completed`` / ``cancelled`` (abort) / ``timed_out`` + ``failed`` + ``dead_lettered``
===========================  ================================================

ARQ has no dead-letter queue: an exhausted job goes to the lab's
(:mod:`labs.dlq`, ``lab:dlq:jobs``). ARQ's ``job_timeout`` is per worker (or per
function), not per job: the lab's per-job ``timeout`` is applied in the wrapper
the way ARQ applies its own (``asyncio.wait_for``), under the worker's
``job_timeout`` (``LAB_ARQ_JOB_TIMEOUT``). Cancel is ARQ's abort
(``allow_abort_jobs``): a pending job is dropped when a worker reaches it, a
running one's task is cancelled. Worker death: ARQ marks a running job with an
in-progress key that expires ``job_timeout`` + 10 s (scaled) after the start; a
dead worker's job stays in the queue and runs again on another worker once the
key has expired. Each worker's watchdog notices a dead worker from its heartbeat
and records ``abandoned`` and the redelivery it waits for.

Fair share (:mod:`labs.fairness`): ARQ has one queue, a sorted set workers take
lowest score first (the score is when a job is due). With fair share on, the
instructor's job is scored :data:`~labs.fairness.PRIORITY_LEAD_MS` early, so
it starts before every student's; students' jobs share the one queue in the
order they came (no per-student round-robin on ARQ: a class runs on RQ).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import importlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import redis
from arq.connections import RedisSettings
from arq.constants import abort_jobs_ss, expires_extra_ms, in_progress_key_prefix, job_key_prefix, result_key_prefix
from arq.jobs import deserialize_result, serialize_job
from arq.worker import Retry, Worker, func

from .. import events, fairness, keys
from ..broker import connect, redis_url, ride_out_outages
from ..catalogue import CATALOGUE, task_name_of
from ..clock import scaled
from ..errors import JobCancelled, PermanentError
from ..job_context import JobContext, running
from ..settings import queue_name, settings
from ..worker import pid_alive
from . import Engine, heartbeat_workers

ENGINE = "arq"
RESULT_TTL = 7 * 24 * 3600
MAX_TRIES = 100
"""ARQ's ``max_tries`` for the catalogue's functions: the lab's retry plan decides retries; this only bounds
how often a job whose worker keeps dying runs again (ARQ counts every try)."""

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- settings


def queue(base: str | None = None) -> str:
    """ARQ's queue (a sorted set) of the lab: ``<LAB_QUEUE>-arq`` (or ``<base>-arq``), beside RQ's and Celery's."""
    return f"{base or queue_name()}-arq"


def job_timeout() -> float:
    """ARQ's ``job_timeout`` in real seconds (``LAB_ARQ_JOB_TIMEOUT`` demo seconds, scaled, at least 1 s)."""
    return max(1.0, scaled(settings().arq_job_timeout))


def in_progress_timeout() -> float:
    """When a running job's in-progress key expires (ARQ: ``job_timeout`` + 10 s; the 10 s scaled here)."""
    return job_timeout() + 1.0 + max(0.5, scaled(10))


def heartbeat_grace() -> float:
    """Seconds a worker may stay silent before its jobs count as abandoned (as for the other engines)."""
    return max(2.0, scaled(settings().heartbeat_grace))


def poll_delay() -> float:
    """How often an idle ARQ worker looks at its queue (a sorted set: ARQ polls, it has no blocking pop).

    0.5 s, ARQ's default, at LAB_TIME_SCALE=1; one scaled demo second when the clock runs faster, at least 0.05 s.
    """
    return min(0.5, max(0.05, scaled(1)))


def job_seconds(timeout_demo: float) -> float:
    """A job's timeout in real seconds on ARQ: its own (scaled, at least 1 s, as RQ's), at most the worker's ``job_timeout``."""
    return min(max(1.0, scaled(timeout_demo)), job_timeout())


# --------------------------------------------------------------------------- JSON, never pickle


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseException):
        return {"error": f"{type(value).__name__}: {value}"[:500]}
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def dumps(data: dict[str, Any]) -> bytes:
    """ARQ's job and result records as JSON (an exception becomes ``{"error": "Type: message"}``)."""
    return json.dumps(data, default=_jsonable).encode()


def loads(raw: bytes) -> dict[str, Any]:
    return json.loads(raw)


# --------------------------------------------------------------------------- the lab's records


def _record_key(job_id: str) -> str:
    return keys.engine_key(ENGINE, "job", job_id)


def _retries_key(job_id: str) -> str:
    return keys.engine_key(ENGINE, "retries", job_id)


RUNNING = keys.engine_key(ENGINE, "running")
"""Hash: job id -> the delivery running it (worker, pid, attempt, started)."""
WORKERS = keys.engine_key(ENGINE, "workers")
"""Set: names of the ARQ workers that have registered (each also has a heartbeat key that expires)."""


def _worker_key(name: str) -> str:
    return keys.engine_key(ENGINE, "worker", name)


def _load(raw: bytes | str | None) -> dict[str, Any]:
    return json.loads(raw) if raw else {}


def _meta(conn: redis.Redis, job_id: str) -> dict[str, Any]:
    return _load(conn.get(_record_key(job_id))).get("meta", {})


def _emit(conn: redis.Redis, job_id: str, event: str, state: str, meta: dict[str, Any], **fields: Any) -> tuple[str, int]:
    fields.setdefault("task", meta.get("task", ""))
    return events.emit(conn, job_id, event, state, **fields, **events.tags({**meta, "engine": ENGINE}))


def _dead_letter(conn: redis.Redis, job_id: str, meta: dict[str, Any], reason: str, error: str, attempt: int, worker: str,
                 *, exhausted: bool = False) -> None:  # fmt: skip
    common = {"attempt": attempt, "worker": worker, "reason": reason, "error": error}
    event_id, _ = _emit(conn, job_id, "failed", "failed", meta, rq_status="failed", retries_exhausted=exhausted, message=error,
                        also=lambda pipe: pipe.hdel(RUNNING, job_id), **common)  # fmt: skip
    if not event_id:
        return  # it already had its verdict
    _emit(conn, job_id, "dead_lettered", "failed", meta, rq_status="failed", attempts=attempt,
          message="sent to the dead-letter queue", also=lambda pipe: pipe.zadd(keys.DEAD_LETTERS, {job_id: time.time()}),
          **common)  # fmt: skip


# --------------------------------------------------------------------------- the worker side

_WORKER: dict[str, Any] = {}
"""This process's worker: name, pid, kind, the ARQ worker object (set by :func:`run_worker`)."""
OUTSIDE = "enqueued outside the lab (not through submit())"
_deliveries: dict[str, dict[str, Any]] = {}
"""Job id -> the delivery this worker runs: meta, attempt, retries so far, and how it ended (the hooks read it)."""
_conns: dict[tuple[int, str], redis.Redis] = {}
_running_job: contextvars.ContextVar[str] = contextvars.ContextVar("lab_arq_job", default="")


def _lab_conn() -> redis.Redis:
    """This process's (sync) connection to the lab's event log, on the worker's broker."""
    url = _WORKER["url"]
    key = (os.getpid(), url)
    conn = _conns.get(key)
    if conn is None:
        conn = _conns[key] = ride_out_outages(connect(url, check=False))
    return conn


_bodies: dict[str, Any] = {}


def _body(func_name: str) -> Any:
    body = _bodies.get(func_name)
    if body is None:
        module, _, name = func_name.rpartition(".")
        body = _bodies[func_name] = getattr(importlib.import_module(module), name)
    return body


class _AttemptOver(JobCancelled):
    """Raised in a body's thread at its next progress() once ARQ has ended its attempt (timeout, abort, stop)."""


class _Over:
    """Whether ARQ has ended an attempt whose body still runs in its thread (a thread cannot be killed).

    Once set, the body's next ``progress()`` raises instead of writing an event: a late ``progress`` after
    ``retry_scheduled`` would put a waiting job back to ``running`` in the log. The lock makes "set" and
    "one progress event" exclusive, so no event slips in after the attempt's verdict.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False

    def set(self) -> None:
        # a progress event takes one round trip (its connection rides out a broker outage: wait as long)
        acquired = self._lock.acquire(timeout=max(5.0, settings().broker_outage_seconds + 5))
        self._set = True
        if acquired:
            self._lock.release()

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        with self._lock:
            if self._set:
                raise _AttemptOver("this attempt is over (timed out, aborted or its worker stopped)")
            yield


class _PastTimeout(Exception):  # noqa: N818 - not an error of the job's own (a TimeoutError it raises is one)
    """The job's own deadline passed (a ``TimeoutError`` raised by the body is an ordinary error)."""


async def _within(seconds: float, call: Any) -> Any:
    """``call()`` in a thread, with a deadline on the event loop (ARQ applies its ``job_timeout`` the same way)."""
    future = asyncio.ensure_future(asyncio.to_thread(call))
    try:
        done, _ = await asyncio.wait({future}, timeout=seconds)
    except asyncio.CancelledError:
        future.cancel()
        raise
    if not done:
        future.cancel()
        raise _PastTimeout()
    return future.result()


def _wrapper(name: str, func_name: str) -> Any:
    async def run(ctx: dict[str, Any], **kwargs: Any) -> Any:
        return await _execute(ctx, func_name, kwargs)

    run.__name__ = run.__qualname__ = name
    run.__doc__ = f"The catalogue's {name!r} ({func_name}) as an ARQ job: the sync body in a thread."
    return run


async def _execute(ctx: dict[str, Any], func_name: str, kwargs: dict[str, Any]) -> Any:
    """One delivery of a catalogue body: in a thread, with the lab's context, timeout, cancel flag and retry plan."""
    job_id = ctx["job_id"]
    lab = _deliveries.get(job_id)
    if lab is None or lab["skip"]:
        return None  # the log says it must not run (already over: cancelled while it waited)
    over = _Over()
    job = JobContext(id=job_id, conn=_lab_conn(), engine=ENGINE, task=lab["task"], attempt=lab["attempt"],
                     worker=lab["worker"], meta=lab["meta"], status="in_progress", guard=over.guard)  # fmt: skip

    def body() -> Any:
        with running(job):
            return _body(func_name)(**kwargs)

    seconds = job_seconds(float(lab["meta"].get("timeout") or settings().arq_job_timeout))
    plan = list(lab["meta"].get("retry_plan") or [])
    try:
        if events.cancel_requested_at_last_emit(job_id):
            raise JobCancelled("cancelled before it started")
        result = await _within(seconds, body)
    except asyncio.CancelledError:
        over.set()
        worker = _WORKER.get("worker")
        if worker is not None and job_id in worker.aborting_tasks:
            lab["outcome"] = ("cancelled", "cancelled on request (ARQ abort)")
        elif worker is not None and worker.stopping:
            lab["outcome"] = ("stopped", f"worker {lab['worker']} stopped mid-job: ARQ cancels the job and runs it again")
        else:
            lab["outcome"] = ("timeout", f"TimeoutError: ARQ's job_timeout ({job_timeout():g} s) exceeded")
        raise
    except _PastTimeout:
        over.set()
        error = f"TimeoutError: job exceeded its timeout ({seconds:g} s)"
        return _failed(lab, "timeout", error, plan)
    except JobCancelled as exc:
        over.set()
        lab["outcome"] = ("cancelled", f"{type(exc).__name__}: {exc}")
        raise
    except PermanentError as exc:
        lab["outcome"] = ("permanent", f"{type(exc).__name__}: {exc}"[:500])
        raise
    except Exception as exc:
        return _failed(lab, "error", f"{type(exc).__name__}: {exc}"[:500], plan, exc)
    lab["outcome"] = ("ok", "")
    return result


def _failed(lab: dict[str, Any], reason: str, error: str, plan: list[float], exc: BaseException | None = None) -> Any:
    """A failed attempt: ``Retry(defer=...)`` with the lab's planned wait, or the verdict (raised for ARQ to record)."""
    retries = lab["retries"]
    if retries < len(plan):
        lab["outcome"] = ("retry", error, reason, float(plan[retries]))
        raise Retry(defer=scaled(float(plan[retries])))
    lab["outcome"] = (reason, error)
    if exc is not None:
        raise exc
    raise TimeoutError(error)


def _running_record(attempt: int, worker: str) -> str:
    return json.dumps({"worker": worker, "hostname": socket.gethostname(), "pid": os.getpid(), "attempt": attempt,
                       "started": time.time()})  # fmt: skip


def _task_of(conn: redis.Redis, job_id: str) -> str:
    """The catalogue name of a job enqueued outside the lab, from ARQ's own record of it."""
    raw = conn.get(job_key_prefix + job_id)
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return task_name_of(loads(raw)["f"]) or "" if raw else ""
    return ""


async def on_job_start(ctx: dict[str, Any]) -> None:
    """``started`` (after ``abandoned`` when the previous delivery never ended); decides whether this one runs."""
    job_id, attempt = ctx["job_id"], int(ctx["job_try"])
    conn = _lab_conn()
    with conn.pipeline(transaction=False) as pipe:  # one round trip for what the worker must know first
        pipe.get(_record_key(job_id))
        pipe.xrevrange(keys.job_stream(job_id), count=1)
        pipe.get(_retries_key(job_id))
        raw_record, newest, retries = pipe.execute()
    record = _load(raw_record)
    meta = record.get("meta") or {"task": _task_of(conn, job_id), "retry_plan": []}
    worker = _WORKER["name"]
    lab = _deliveries[job_id] = {"task": meta.get("task", ""), "attempt": attempt, "worker": worker, "meta": meta,
                                 "retries": int(retries or 0), "skip": False, "outcome": None}  # fmt: skip
    if not newest:  # enqueued straight into ARQ, not through labs.jobs.submit(): record it so the log stays whole
        _emit(conn, job_id, "enqueued", "pending", meta, rq_status="queued", message=OUTSIDE)
    last = events.parse(*newest[0]) if newest else None
    if last is not None and last.state == "running":
        _emit(conn, job_id, "abandoned", "running", meta, rq_status="in_progress", attempt=last.attempt, worker=last.worker,
              reason="abandoned", error="the delivery before this one never finished (its worker died)",
              message="run again by ARQ: the last delivery's in-progress key expired")  # fmt: skip
    entry = _running_record(attempt, worker)
    event_id, _ = _emit(conn, job_id, "started", "running", meta, rq_status="in_progress", attempt=attempt, worker=worker,
                        message=f"attempt {attempt} on {worker}", pid=os.getpid(),
                        also=lambda pipe: pipe.hset(RUNNING, job_id, entry))  # fmt: skip
    if not event_id:  # the job is already over (cancelled while it waited): do not run it
        lab["skip"] = True
        conn.hdel(RUNNING, job_id)


async def on_job_end(ctx: dict[str, Any]) -> None:
    """The delivery ended and ARQ is about to book what follows: ``retry_scheduled`` (after ``timed_out``), or a re-run."""
    job_id = ctx["job_id"]
    lab = _deliveries.get(job_id)
    if not lab or lab["skip"] or not lab["outcome"]:
        return
    conn = _lab_conn()
    meta, attempt, worker = lab["meta"], lab["attempt"], lab["worker"]
    kind = lab["outcome"][0]
    if kind == "retry":
        _, error, reason, demo = lab["outcome"]
        common = {"attempt": attempt, "worker": worker, "error": error, "reason": reason}
        if reason == "timeout":
            _emit(conn, job_id, "timed_out", "running", meta, rq_status="in_progress", message=error, **common)

        def also(pipe: Any) -> None:
            pipe.hdel(RUNNING, job_id)
            pipe.incr(_retries_key(job_id))
            pipe.expire(_retries_key(job_id), RESULT_TTL)

        _emit(conn, job_id, "retry_scheduled", "pending", meta, rq_status="deferred", next_attempt=attempt + 1, delay=demo,
              delay_seconds=scaled(demo), message=f"redelivery in {demo:g} s (Retry)", also=also, **common)  # fmt: skip
    elif kind == "stopped":
        error = lab["outcome"][1]
        common = {"attempt": attempt, "worker": worker, "error": error, "reason": "abandoned"}
        _emit(conn, job_id, "abandoned", "running", meta, rq_status="in_progress", message=error, **common)
        _emit(conn, job_id, "retry_scheduled", "pending", meta, rq_status="queued", next_attempt=attempt + 1, delay=0,
              delay_seconds=0, redelivery="worker_stopped", message="back in ARQ's queue: it runs again on the next worker",
              also=lambda pipe: pipe.hdel(RUNNING, job_id), **common)  # fmt: skip


async def after_job_end(ctx: dict[str, Any]) -> None:
    """ARQ has recorded the result: ``completed``, ``cancelled``, or ``failed`` + ``dead_lettered``."""
    job_id = ctx["job_id"]
    lab = _deliveries.pop(job_id, None)
    if not lab or lab["skip"] or not lab["outcome"] or lab["outcome"][0] in {"retry", "stopped"}:
        return
    conn = _lab_conn()
    meta, attempt, worker = lab["meta"], lab["attempt"], lab["worker"]
    kind, error = lab["outcome"][0], lab["outcome"][1]
    common = {"attempt": attempt, "worker": worker}
    if kind == "ok":
        _emit(conn, job_id, "completed", "completed", meta, rq_status="complete", message="done",
              also=lambda pipe: pipe.hdel(RUNNING, job_id), **common)  # fmt: skip
    elif kind == "cancelled":
        _emit(conn, job_id, "cancelled", "failed", meta, rq_status="aborted", reason="cancelled", error="cancelled on request",
              message="cancelled while running (ARQ abort)", also=lambda pipe: pipe.hdel(RUNNING, job_id), **common)  # fmt: skip
    elif kind == "timeout":
        _emit(conn, job_id, "timed_out", "running", meta, rq_status="in_progress", reason="timeout", error=error, message=error,
              **common)  # fmt: skip
        _dead_letter(conn, job_id, meta, "timeout", error, attempt, worker)
    elif kind == "permanent":
        _dead_letter(conn, job_id, meta, "permanent", error, attempt, worker)
    else:
        _dead_letter(conn, job_id, meta, "error", error, attempt, worker, exhausted=bool(meta.get("retry_plan")))


class _Catalogue(dict):  # type: ignore[type-arg]
    """ARQ's function table: a job naming a function outside the catalogue is refused, and the log says so."""

    def __missing__(self, name: str) -> Any:
        job_id = _running_job.get()
        if job_id:
            _refuse(job_id, name)
        raise KeyError(name)


def _refuse(job_id: str, name: str) -> None:
    conn = _lab_conn()
    meta = {"task": str(name)}
    if not conn.exists(keys.job_stream(job_id)):
        _emit(conn, job_id, "enqueued", "pending", meta, rq_status="queued", message=OUTSIDE)
    error = f"ForbiddenTask: {name!r} is not in the lab's task catalogue"
    _dead_letter(conn, job_id, meta, "permanent", error, 0, _WORKER.get("name", ""))


class LabArqWorker(Worker):
    """ARQ's worker with the lab's hooks, the catalogue as its functions, JSON, and a flag for a stop signal."""

    stopping = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.functions = _Catalogue(self.functions)
        self.in_progress_timeout_s = in_progress_timeout()  # ARQ: job_timeout + 10 s; the 10 s scaled

    async def run_job(self, job_id: str, score: int) -> None:
        _running_job.set(job_id)
        await super().run_job(job_id, score)

    def handle_sig(self, signum: Any) -> None:
        self.stopping = True  # the jobs it cancels now are re-run, not failed
        super().handle_sig(signum)


def functions() -> list[Any]:
    """Every catalogue body as an ARQ function (the lab's plan decides retries; ARQ's ``max_tries`` is a backstop)."""
    return [func(_wrapper(spec.name, spec.func), name=spec.func, max_tries=MAX_TRIES) for spec in CATALOGUE.values()]


# --------------------------------------------------------------------------- the worker's heartbeat and watchdog

_CLAIM_LUA = "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0"


def _beat(conn: redis.Redis) -> None:
    info = {k: v for k, v in _WORKER.items() if k in {"name", "pid", "kind", "queue", "max_jobs"}}
    info.update(hostname=socket.gethostname(), last_heartbeat=time.time(), engine=ENGINE)
    with conn.pipeline(transaction=False) as pipe:
        pipe.set(_worker_key(_WORKER["name"]), json.dumps(info), px=int(heartbeat_grace() * 1000))
        pipe.sadd(WORKERS, _WORKER["name"])
        pipe.execute()


def _worker_alive(conn: redis.Redis, entry: dict[str, Any]) -> bool:
    if entry.get("hostname") == socket.gethostname() and not pid_alive(int(entry.get("pid") or 0)):
        return False
    return bool(conn.exists(_worker_key(entry.get("worker", ""))))


def sweep_lost(conn: redis.Redis) -> list[str]:
    """Record the fate of jobs whose worker died mid-delivery; return their ids.

    Still in ARQ's queue -> ``abandoned`` and a redelivery booked for when its in-progress key expires;
    gone from the queue -> ``failed`` with reason ``lost``, into the DLQ.
    """
    handled = []
    for raw_id, raw in conn.hgetall(RUNNING).items():
        entry = _load(raw)
        if entry.get("worker") == _WORKER.get("name") or _worker_alive(conn, entry):
            continue
        job_id = raw_id.decode()
        if not conn.eval(_CLAIM_LUA, 1, RUNNING, job_id, raw):  # another watchdog took it, or it moved on
            continue
        meta = _meta(conn, job_id)
        attempt, worker = int(entry.get("attempt") or 1), str(entry.get("worker") or "")
        error = f"worker {worker} stopped answering mid-job (killed or crashed)"
        _emit(conn, job_id, "abandoned", "running", meta, rq_status="in_progress", attempt=attempt, worker=worker,
              reason="abandoned", error=error, message=error)  # fmt: skip
        if conn.zscore(queue(meta.get("queue")), job_id) is not None:
            left = max(0.0, conn.pttl(in_progress_key_prefix + job_id) / 1000)
            _emit(conn, job_id, "retry_scheduled", "pending", meta, rq_status="queued", attempt=attempt, worker=worker,
                  reason="abandoned", error=error, next_attempt=attempt + 1, delay=round(left / (scaled(1) or 1), 3),
                  delay_seconds=left, redelivery="in_progress_expiry",
                  message=f"ARQ still holds it: it runs again once its in-progress key expires ({left:.1f} s)")  # fmt: skip
        else:
            _dead_letter(conn, job_id, meta, "lost", f"{error}; ARQ's queue no longer holds it", attempt, worker)
        handled.append(job_id)
    return handled


def _watch(stop: threading.Event) -> None:
    conn = _lab_conn()
    interval = max(0.2, heartbeat_grace() / 4)
    every = max(1.0, scaled(10))
    last_sweep = 0.0
    while not stop.wait(interval):
        try:
            _beat(conn)
            if time.monotonic() - last_sweep >= every:
                last_sweep = time.monotonic()
                sweep_lost(conn)
                events.forget_expired(conn)  # the lab's job index would grow for ever
        except redis.exceptions.RedisError:
            continue  # the broker is away: the next beat tries again


async def on_startup(ctx: dict[str, Any]) -> None:
    # the sync bodies run in threads: as many as the jobs ARQ runs at once
    asyncio.get_running_loop().set_default_executor(
        concurrent.futures.ThreadPoolExecutor(max_workers=_WORKER["max_jobs"], thread_name_prefix="lab-arq-job")
    )
    _beat(_lab_conn())
    stop = _WORKER["stop_watch"] = threading.Event()
    threading.Thread(target=_watch, args=(stop,), name="lab-arq-watch", daemon=True).start()


async def on_shutdown(ctx: dict[str, Any]) -> None:
    _WORKER["stop_watch"].set()
    conn = _lab_conn()
    conn.delete(_worker_key(_WORKER["name"]))
    conn.srem(WORKERS, _WORKER["name"])


KINDS = ("async",)


def make_worker(url: str, name: str, *, burst: bool = False, max_jobs: int | None = None, **kwargs: Any) -> LabArqWorker:
    """An ARQ worker on ``url`` with the lab's hooks (it runs in this process: :meth:`LabArqWorker.run`).

    ``kwargs`` go to ARQ's ``Worker``; a ``poll_delay`` there replaces the lab's (benchmarks/throughput.py
    gives both sides the same one)."""
    jobs = max_jobs or settings().arq_max_jobs
    delay = kwargs.pop("poll_delay", None) or poll_delay()
    _WORKER.update({"name": name, "pid": os.getpid(), "kind": "async", "engine": ENGINE, "queue": queue(), "url": url,
                    "max_jobs": jobs})  # fmt: skip
    asyncio.set_event_loop(asyncio.new_event_loop())
    worker = LabArqWorker(
        functions=functions(),
        queue_name=queue(),
        redis_settings=RedisSettings.from_dsn(url),
        burst=burst,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        on_job_start=on_job_start,
        on_job_end=on_job_end,
        after_job_end=after_job_end,
        max_jobs=jobs,
        job_timeout=job_timeout() + 1.0,  # the lab's per-job timeout (at most job_timeout()) fires first
        keep_result=RESULT_TTL,
        poll_delay=delay,
        allow_abort_jobs=True,
        job_serializer=dumps,
        job_deserializer=loads,
        **kwargs,
    )
    _WORKER["worker"] = worker
    return worker


def run_worker(kind: str | None = None, name: str | None = None, log_level: str = "INFO") -> int:
    """Run one ARQ worker in this process (``python -m labs worker --engine arq``) until stopped."""
    from ..worker import preload, stop_with_parent

    url = redis_url()
    if url is None:
        raise SystemExit("no broker: set REDIS_URL or start `python -m labs broker`")
    connect(url)  # a clear one-line error when it does not answer
    del kind  # ARQ has one kind of worker: one process, one event loop, up to max_jobs jobs at a time
    name = name or f"arq-{os.getpid()}"
    logging.basicConfig(level=log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    worker = make_worker(url, name)
    warmed = preload()
    print(f"worker {name}: " + "; ".join(f"{module}: {said}" for module, said in warmed.items()), flush=True)
    if settings().parent_pid is not None:
        stop_with_parent(settings().parent_pid)
    print(f"arq worker {name} (max_jobs={_WORKER['max_jobs']}) listening on queue {queue()!r}", flush=True)
    worker.run()
    return 0


# --------------------------------------------------------------------------- the engine


STATUS_TO_STATE = {"queued": "pending", "deferred": "pending", "in_progress": "running", "complete": "completed",
                   "failed": "failed", "aborted": "failed", "aborting": "pending"}  # fmt: skip
"""ARQ's statuses (and the lab's words for a failed or aborted ARQ result) as the seed's four."""


class ArqEngine(Engine):
    name = ENGINE
    kinds = KINDS

    def submit(self, conn: Any, job: dict[str, Any]) -> None:
        """``enqueued``, then the job in ARQ's own shape: what ``ArqRedis.enqueue_job`` writes, on the lab's client.

        ARQ's client is asyncio-only; the lab submits from sync code (the API's threads, notebooks with a running
        loop), so it writes ARQ's two keys itself with ARQ's ``serialize_job``: the job record and its queue entry.
        """
        job_id, task = job["id"], job["task"]
        record = {"func": job["func"], "params": job["params"], "meta": job["meta"]}
        events.emit(conn, job_id, "enqueued", "pending", task=task, rq_status="queued", attempt=0, **job["data"])
        try:
            now = int(time.time() * 1000)
            payload = serialize_job(job["func"], (), job["params"], None, now, serializer=dumps)
            with conn.pipeline(transaction=True) as pipe:
                pipe.set(_record_key(job_id), json.dumps(record), ex=RESULT_TTL)
                pipe.psetex(job_key_prefix + job_id, expires_extra_ms, payload)
                score = now - fairness.PRIORITY_LEAD_MS if fairness.is_priority(job["meta"]) else now
                pipe.zadd(queue(job.get("queue")), {job_id: score})
                pipe.execute()
        except Exception as exc:
            events.emit(conn, job_id, "failed", "failed", task=task, reason="enqueue_error", error=str(exc), engine=ENGINE)
            raise

    def cancel(self, conn: Any, job_id: str) -> str | None:
        """ARQ's abort: a pending job is dropped when a worker reaches it (``cancelled`` at once), a running one's task
        is cancelled by its worker; on both, the cancel flag stops the body's thread at its next ``progress()``."""
        state = events.current_state(conn, job_id)
        if state is None and not conn.exists(_record_key(job_id)):
            return None
        if state in {"completed", "failed"}:
            return state
        now = int(time.time() * 1000)
        conn.set(keys.cancel_flag(job_id), "1", ex=RESULT_TTL)
        if state == "pending":
            meta = _meta(conn, job_id)
            _emit(conn, job_id, "cancelled", "failed", meta, rq_status="aborting", reason="cancelled",
                  message="cancelled before a worker picked it up")  # fmt: skip
            name = queue(meta.get("queue"))
            score = conn.zscore(name, job_id)
            if score is not None and score > now:  # deferred (a retry's wait): to the front, so a worker drops it now
                conn.zadd(name, {job_id: 1})
        conn.zadd(abort_jobs_ss, {job_id: now})
        return events.current_state(conn, job_id)

    def record(self, conn: Any, job_id: str) -> dict[str, Any] | None:
        with conn.pipeline(transaction=False) as pipe:
            pipe.get(_record_key(job_id))
            pipe.get(result_key_prefix + job_id)
            pipe.exists(in_progress_key_prefix + job_id)
            pipe.zscore(abort_jobs_ss, job_id)
            raw_record, raw_result, in_progress, aborting = pipe.execute()
        record = _load(raw_record)
        result = deserialize_result(raw_result, deserializer=loads) if raw_result else None
        if not record and result is None:
            return None
        if result is not None:
            failed = isinstance(result.result, dict) and str(result.result.get("error", "")).startswith("CancelledError")
            status = "complete" if result.success else ("aborted" if failed else "failed")
        elif in_progress:
            status = "in_progress"
        elif aborting is not None:
            status = "aborting"
        elif (score := conn.zscore(queue(record.get("meta", {}).get("queue")), job_id)) is not None:  # its own queue
            status = "deferred" if score > time.time() * 1000 else "queued"
        else:
            status = "not_found"
        return {
            "status": status,
            "meta": record.get("meta", {}),
            "params": record.get("params", result.kwargs if result else {}),
            "result": result.result if result is not None and result.success else None,
        }

    def update_meta(self, conn: Any, job_id: str, **fields: Any) -> None:
        record = _load(conn.get(_record_key(job_id)))
        if record:
            record["meta"] = {**record.get("meta", {}), **fields}
            conn.set(_record_key(job_id), json.dumps(record), keepttl=True)

    def forget(self, conn: Any, job_id: str) -> None:
        conn.delete(_record_key(job_id), result_key_prefix + job_id, _retries_key(job_id))

    def held(self, conn: Any) -> list[str]:
        """Jobs in ARQ's queue (waiting, deferred for a retry, or running: ARQ keeps a running job there) or running."""
        ids = [raw.decode() for raw in conn.zrange(queue(), 0, -1)]
        ids += [raw.decode() for raw in conn.hkeys(RUNNING)]
        return list(dict.fromkeys(ids))

    def backlog(self, conn: Any, job_id: str) -> dict[str, Any] | None:
        """ARQ's queue is a sorted set by the time a job may run: the jobs ahead are those with a lower score."""
        name = queue(_meta(conn, job_id).get("queue"))
        rank = conn.zrank(name, job_id)
        listeners = [w for w in self.workers(conn) if w["queue"] == name]
        return {"queue": name, "ahead": rank, "workers": len(listeners)}

    def workers(self, conn: Any) -> list[dict[str, Any]]:
        """The live ARQ workers (their heartbeat has not expired), in the shape of RQ's list."""
        return heartbeat_workers(
            conn, ENGINE, WORKERS, _worker_key, RUNNING,
            lambda info: {"kind": info.get("kind", "async"), "max_jobs": int(info.get("max_jobs") or 0)},
        )  # fmt: skip

    def stop_worker(self, conn: Any, name: str) -> None:
        """SIGTERM, ARQ's own way to stop a worker (it has no remote control): its running jobs go back to the queue."""
        info = next((w for w in self.workers(conn) if w["name"] == name), None)
        if info is None:
            raise KeyError(f"no live arq worker named {name!r}")
        if info["hostname"] not in {socket.gethostname(), ""}:
            raise PermissionError(f"worker {name} runs on {info['hostname']}: ARQ can only be stopped where it runs")
        with contextlib.suppress(ProcessLookupError):
            os.kill(info["pid"], signal.SIGTERM)

    def run_worker(self, kind: str | None = None, name: str | None = None, log_level: str = "INFO") -> int:
        """Run one worker in this process (what :meth:`worker_command` starts)."""
        return run_worker(kind, name, log_level)

    def worker_command(self, kind: str | None = None, name: str | None = None) -> list[str]:
        """``python -m labs worker --engine arq``: one kind of worker, so ``kind`` (an RQ or Celery kind) is not passed."""
        args = [sys.executable, "-m", "labs", "worker", "--engine", self.name]
        if name:
            args += ["--name", name]
        return args
