"""Celery behind the engine seam: the seed's own engine (类比1: ``process_document.delay(...)``).

The catalogue's bodies run unchanged as Celery tasks, registered from the
catalogue under their dotted paths (``labs.tasks.demo.send_email``); a message
naming any other function is refused by the worker, which knows no other
task. JSON only (``accept_content=["json"]``), never pickle.

The lifecycle events come from Celery's own hooks, not from polling:

==========================  ===================================================
Celery signal               lab event
==========================  ===================================================
``before_task_publish``     ``enqueued`` (the publisher, before the message leaves)
kombu's delivery booking    ``started`` (solo pool, first delivery), in the booking's ``MULTI``
``task_prerun``             ``started`` (``abandoned`` first if the last delivery never ended)
progress() in the body      ``progress`` (and ``update_state(state="PROGRESS")``, as in the seed)
``task_retry``              ``retry_scheduled`` with the delay planned by :mod:`labs.retry`
the result's write          ``completed``, in the transaction that stores ``SUCCESS``
``task_postrun``            ``completed`` when no result write carried it
``task_failure``            ``timed_out`` / ``cancelled`` / ``failed`` + ``dead_lettered``
``task_revoked``            ``cancelled`` (revoke, or terminate of a running job)
``task_unknown``            ``failed`` (a function outside the catalogue) + ``dead_lettered``
==========================  ===================================================

Retries are the lab's plan, asked of Celery the seed's way
(``raise self.retry(exc=e, countdown=...)``); a :class:`~labs.errors.PermanentError`
skips them. Celery has no dead-letter queue (the seed's
``dead_letter_queue='failed_tasks'`` option does not exist): an exhausted job
goes to the lab's (:mod:`labs.dlq`, ``lab:dlq:jobs``).

Timeouts: the lab's ``timeout`` is Celery's ``soft_time_limit`` (the job sees
``SoftTimeLimitExceeded`` and may clean up); ``time_limit`` (the pool kills the
child) follows a little later. Both need the prefork pool; on the solo pool
the lab raises the soft limit itself.

Worker death: with ``acks_late`` + ``task_reject_on_worker_lost`` (the lab's
default) a job whose worker was SIGKILLed stays in the broker's unacked set
and is redelivered after the visibility timeout (scaled by LAB_TIME_SCALE);
with Celery's defaults (``LAB_CELERY_ACKS_LATE=0``) the message was
acknowledged on receipt and the job is lost. Each worker's watchdog notices a
dead worker's jobs from its heartbeat and records which of the two happened:
``abandoned`` then a redelivery, or ``failed`` with reason ``lost``.

Fair share (:mod:`labs.fairness`) is not Celery's: every job, a student's or
the instructor's, goes to the one queue ``<LAB_QUEUE>-celery``, first in,
first out (kombu's Redis transport takes several queues in turn, not by
priority, and its priorities split a queue into lists the queue depth would
have to follow). A class runs on RQ, the default, for per-student queues.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import json
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import redis
from celery import Celery, chord, signals
from celery import states as celery_states
from celery.backends.redis import RedisBackend
from celery.exceptions import Ignore, Reject, Retry, SoftTimeLimitExceeded, TimeLimitExceeded, WorkerLostError

from .. import events, keys
from ..broker import connect, redis_url, ride_out_outages
from ..catalogue import CATALOGUE, task_name_of
from ..clock import scaled
from ..errors import JobCancelled, PermanentError
from ..job_context import JobContext, running
from ..settings import queue_name, settings
from ..worker import pid_alive
from . import Engine, celery_transport, heartbeat_workers

ENGINE = "celery"
RESULT_TTL = 7 * 24 * 3600
"""The default of ``LAB_RESULT_TTL`` (what the engine uses is ``settings().result_ttl``)."""
STATUS_TO_STATE = {
    "PENDING": "pending",
    "RECEIVED": "pending",
    "RETRY": "pending",
    "STARTED": "running",
    "PROGRESS": "running",
    "SUCCESS": "completed",
    "FAILURE": "failed",
    "REVOKED": "failed",
}
"""Celery's states as the seed's four (a state Celery adds later is drawn as ``unknown``)."""


# --------------------------------------------------------------------------- settings


def queue(base: str | None = None) -> str:
    """The Celery queue of the lab (``<LAB_QUEUE>-celery``, or ``<base>-celery``), beside RQ's."""
    return f"{base or queue_name()}-celery"


def acks_late() -> bool:
    """``LAB_CELERY_ACKS_LATE`` (default 1): acknowledge after the job, redeliver if the worker dies."""
    return settings().celery_acks_late


def visibility_timeout_demo() -> float:
    """``LAB_CELERY_VISIBILITY_TIMEOUT`` demo seconds (default 3600, Celery's own): when unacked messages return."""
    return settings().celery_visibility_timeout


def visibility_timeout() -> float:
    """The visibility timeout in real seconds (scaled by LAB_TIME_SCALE, at least 1 s)."""
    return max(1.0, scaled(visibility_timeout_demo()))


def heartbeat_grace() -> float:
    """Seconds a worker may stay silent before its jobs count as abandoned (as for RQ's workers)."""
    return max(2.0, float(math.ceil(scaled(settings().heartbeat_grace))))


def time_limits(timeout_demo: float) -> tuple[float | None, float]:
    """(soft, hard) real seconds for a job's ``timeout``: the soft limit is the lab's timeout, the hard one follows.

    At least 1 s, as RQ's. ``LAB_CELERY_SOFT_TIME_LIMIT=0`` sends the hard limit alone: the pool kills the
    child with no warning to the job (Celery's ``time_limit`` without ``soft_time_limit``).
    """
    soft = max(1.0, scaled(timeout_demo))
    hard = soft + max(1.0, soft / 2)
    if not settings().celery_soft_time_limit:
        return None, soft
    return soft, hard


# --------------------------------------------------------------------------- apps and connections


def url_of(conn: redis.Redis) -> str:
    """The broker URL of a redis-py connection (the Celery app must talk to the same server)."""
    kwargs = conn.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"redis+socket://{kwargs['path']}?virtual_host={kwargs.get('db', 0)}"
    user, password = kwargs.get("username"), kwargs.get("password")
    auth = f"{quote(user or '', safe='')}:{quote(password, safe='')}@" if password else ""
    scheme = "rediss" if "ssl" in conn.connection_pool.connection_class.__name__.lower() else "redis"
    return f"{scheme}://{auth}{kwargs.get('host', '127.0.0.1')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


class LabRedisBackend(RedisBackend):
    """Celery's Redis result backend, without a pub/sub subscription for every task sent.

    Celery's backend subscribes the *sender* to each task's result channel so
    that ``result.get()`` returns at once; the lab follows jobs in its event
    log instead, and an API sending thousands of jobs would hold thousands of
    subscriptions. ``AsyncResult(id).status`` / ``.result`` still read the result.
    """

    def on_task_call(self, producer: Any, task_id: str) -> None:
        return None

    def add_pending_result(self, result: Any, weak: bool = False, start_drainer: bool = True) -> Any:
        """Not while the lab sends jobs: a chord's group result would subscribe the sender to every header task.

        No one in the sender drains those subscriptions: the broker queues every
        result message (progress included) for a connection no one reads, and
        ``AsyncResult.__del__`` later writes ``UNSUBSCRIBE`` to it from whatever
        thread the garbage collector happens to run in. ``result.get()`` in a
        student's code (not inside the lab's sending) subscribes and waits as Celery's does.
        """
        if _publishing.get() is not None:
            return result
        return super().add_pending_result(result, weak=weak, start_drainer=start_drainer)

    def on_chord_part_return(self, request: Any, state: str, result: Any, propagate: Any = None, **kwargs: Any) -> Any:
        """Celery's chord counter; in a lab chord that allows failures (:meth:`CeleryEngine.submit_then`) a failed
        header task counts as ended, so the body still runs (RQ's ``allow_failure``), instead of Celery's ``ChordError``."""
        token = _tolerant_chord.set(_allows_failures(getattr(request, "chord", None)))
        try:
            return super().on_chord_part_return(request, state, result, propagate=propagate, **kwargs)
        finally:
            _tolerant_chord.reset(token)

    def _unpack_chord_result(self, tup: Any, decode: Any, *args: Any, **kwargs: Any) -> Any:
        if not _tolerant_chord.get():
            return super()._unpack_chord_result(tup, decode, *args, **kwargs)
        _, task_id, state, value = decode(tup)
        if state in celery_states.PROPAGATE_STATES:  # the failed part, as data: its own record still says FAILURE
            return {"id": task_id, "state": state, "error": _error_line(self.exception_to_python(value))}
        return value

    def _set(self, key: Any, value: Any, expires: Any = None) -> None:
        """Celery's result write; a lab job's ``completed`` goes in the same transaction as its ``SUCCESS``.

        The log and Celery's status cannot disagree (no worker can die between the two), and the event
        costs no round trip of its own.
        """
        completion = _completions.get(_text(key))
        if completion is None:
            return super()._set(key, value, expires)
        expires = self.expires if expires is None else expires
        with self.client.pipeline() as pipe:
            pipe.set(key, value, ex=expires or None)
            pipe.publish(key, value)
            for command in completion.commands:
                pipe.execute_command(*command)
            replies = pipe.execute(raise_on_error=False)
        for reply in replies[:2]:
            if isinstance(reply, Exception):
                raise reply  # Celery's own write failed: Celery retries it (the completion is still waiting)
        completion.written = True
        events.append_reply(replies[-1], completion.call, completion.conn)  # NOSCRIPT: appended the ordinary way
        return None


_tolerant_chord: contextvars.ContextVar[bool] = contextvars.ContextVar("lab_tolerant_chord", default=False)


def _allows_failures(callback: Any) -> bool:
    """Whether a chord's body is a lab job sent with ``allow_failure`` (what :meth:`CeleryEngine.submit_then` sends)."""
    with contextlib.suppress(AttributeError, TypeError, KeyError):
        return bool(((callback.get("options") or {}).get("headers") or {})["lab"].get("allow_failure"))
    return False


def make_app(url: str) -> Celery:
    """A Celery app on ``url`` (broker and result backend), with every catalogue task registered."""
    app = Celery("labs", broker=url, backend=f"{__name__}:LabRedisBackend+{url}", set_as_current=False)
    vt = visibility_timeout()
    late = acks_late()
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        event_serializer="json",
        task_default_queue=queue(),
        task_acks_late=late,
        task_reject_on_worker_lost=late,
        task_track_started=False,  # the log records "started"; PROGRESS comes from update_state in progress()
        result_expires=settings().result_ttl,
        worker_prefetch_multiplier=1,
        worker_lost_wait=max(0.5, scaled(10)),  # Celery waits 10 s for a killed child's result before WorkerLostError
        worker_redirect_stdouts=False,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # kombu's Redis transport, whose delivery booking can carry the lab's started (labs.engines.celery_transport)
        broker_transport=f"{celery_transport.__name__}:LabTransport" if url.startswith(("redis://", "rediss://")) else None,
        broker_transport_options={
            "visibility_timeout": vt,
            "unacked_restore_interval": max(0.5, min(10.0, vt / 4)),
            "unacked_restore_throttle": 1,
        },
        result_backend_transport_options={"visibility_timeout": vt},
    )
    for spec in CATALOGUE.values():
        app.task(name=spec.func, bind=True, shared=False)(_runner(spec.name, spec.func))
    return app


class _Completion:
    """A job's ``completed``, waiting for Celery to store its result (see :meth:`LabRedisBackend._set`)."""

    def __init__(self, conn: redis.Redis, commands: tuple[tuple[Any, ...], ...], call: dict[str, Any]) -> None:
        self.conn, self.commands, self.call, self.written = conn, commands, call, False


_completions: dict[str, _Completion] = {}
"""Result key (``celery-task-meta-<id>``) -> the completion its write carries."""

_apps: dict[tuple[str, str], Celery] = {}
_conns: dict[tuple[int, str], redis.Redis] = {}
_publishing: contextvars.ContextVar[redis.Redis | None] = contextvars.ContextVar("lab_celery_publish", default=None)


def app_for(url: str) -> Celery:
    """The lab's Celery app for broker ``url`` (one per URL, queue and process).

    Per queue too: an app's ``task_default_queue`` is fixed when it is made, and a
    :class:`~labs.session.LabSession` changes ``LAB_QUEUE`` for its process while it runs.
    """
    key = (url, queue())
    app = _apps.get(key)
    if app is None:
        app = _apps[key] = make_app(url)
    return app


def __getattr__(name: str) -> Any:
    """``app``: the app on this process's broker, for ``celery -A labs.engines.celery`` (and Flower)."""
    if name in {"app", "celery"}:
        url = redis_url()
        if url is None:
            raise AttributeError("no broker: set REDIS_URL or start `python -m labs broker`")
        return app_for(url)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _lab_conn(app: Celery) -> redis.Redis:
    """This process's connection to the lab's event log, on the app's broker (one per process)."""
    cached = app.__dict__.get("_lab_events_conn")  # every job asks twice: Celery's conf lookup is slow
    if cached is not None and cached[0] == os.getpid():
        return cached[1]
    url = str(app.conf.broker_url)
    key = (os.getpid(), url)
    conn = _conns.get(key)
    if conn is None:
        conn = _conns[key] = ride_out_outages(connect(url, check=False))
    app.__dict__["_lab_events_conn"] = (os.getpid(), conn)
    return conn


_writers: dict[tuple[int, int], events.DeferredWriter] = {}


def _writer(conn: redis.Redis) -> events.DeferredWriter:
    """This process's deferred appender on ``conn`` (the worker's task thread uses it)."""
    key = (os.getpid(), id(conn))
    writer = _writers.get(key)
    if writer is None:
        writer = _writers[key] = events.DeferredWriter(conn)
    return writer


# --------------------------------------------------------------------------- the lab's records


def _record_key(job_id: str) -> str:
    return keys.engine_key(ENGINE, "job", job_id)


RUNNING = keys.engine_key(ENGINE, "running")
"""Hash: job id -> the delivery running it (worker, pid, attempt, acks_late, started)."""
WORKERS = keys.engine_key(ENGINE, "workers")
"""Set: names of the Celery workers that have registered (each also has a heartbeat key that expires)."""


def _worker_key(name: str) -> str:
    return keys.engine_key(ENGINE, "worker", name)


def _deliveries_key(job_id: str) -> str:
    return keys.engine_key(ENGINE, "deliveries", job_id)


def _load(raw: bytes | str | None) -> dict[str, Any]:
    return json.loads(raw) if raw else {}


def _meta(conn: redis.Redis, job_id: str) -> dict[str, Any]:
    return _load(conn.get(_record_key(job_id))).get("meta", {})


def _last_event(conn: redis.Redis, job_id: str) -> events.Event | None:
    entries = conn.xrevrange(keys.job_stream(job_id), count=1)
    return events.parse(*entries[0]) if entries else None


def _error_line(exc: BaseException | None) -> str:
    return f"{type(exc).__name__}: {exc}"[:500] if exc is not None else "unknown error"


# --------------------------------------------------------------------------- the task bodies


_bodies: dict[str, Any] = {}


def _body(func: str) -> Any:
    body = _bodies.get(func)
    if body is None:
        module, _, name = func.rpartition(".")
        body = _bodies[func] = getattr(importlib.import_module(module), name)
    return body


@contextlib.contextmanager
def _soft_limit_on_solo(task: Any) -> Iterator[None]:
    """Raise ``SoftTimeLimitExceeded`` in the job after its soft limit where Celery's pool cannot (solo)."""
    limits = task.request.timelimit or (None, None)
    soft = limits[1] if len(limits) > 1 else None
    solo = _WORKER.get("pool") == "solo"
    if not (solo and soft and threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")):
        yield
        return

    def expire(*_: Any) -> None:
        raise SoftTimeLimitExceeded(f"soft time limit ({soft:g} s) exceeded")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, float(soft))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _runner(name: str, func: str) -> Any:
    def run(self: Any, **kwargs: Any) -> Any:
        return _execute(self, func, kwargs)

    run.__name__ = run.__qualname__ = name
    run.__doc__ = f"The catalogue's {name!r} ({func}) as a Celery task."
    return run


def _execute(task: Any, func: str, kwargs: dict[str, Any]) -> Any:
    """Run one delivery of a catalogue body with the lab's context, cancel flag and retry plan."""
    lab = getattr(task.request, "lab_delivery", None) or {}
    if not lab or lab.get("skip"):
        _count_in_chord_if_cancelled(task)
        raise Ignore()  # a delivery the log says must not run (already finished, or a duplicate)
    job_id = task.request.id
    conn = _lab_conn(task.app)
    if events.cancel_requested_at_last_emit(job_id):
        raise JobCancelled("cancelled before it started")
    ctx = JobContext(
        id=job_id,
        conn=conn,
        engine=ENGINE,
        task=lab["task"],
        attempt=lab["attempt"],
        worker=lab["worker"],
        meta=lab["meta"],
        status="STARTED",
        after_progress=lambda info: task.update_state(state="PROGRESS", meta=info),
    )
    plan = list(lab["meta"].get("retry_plan") or [])
    try:
        with running(ctx), _soft_limit_on_solo(task):
            result = _body(func)(**kwargs)
        _complete_with_result(task, conn, job_id, lab)
        return result
    except (Retry, Ignore, Reject, PermanentError):
        raise
    except Exception as exc:
        retries = int(task.request.retries or 0)
        if retries < len(plan):  # the seed's `raise self.retry(exc=e, countdown=...)`, with the lab's plan
            header = {
                **(getattr(task.request, "lab", None) or {}),
                "meta": lab["meta"],
                "redeliveries": lab["attempt"] - retries - 1,
            }
            task.request.lab_booked_at = time.time()  # the signal fires after the publish: stamp the booking first
            raise task.retry(exc=exc, countdown=scaled(plan[retries]), max_retries=len(plan), headers={"lab": header}) from None
        raise


def _count_in_chord_if_cancelled(task: Any) -> None:
    """A chord's header job cancelled while it waited (no worker heard the revoke) still ends its part of the chord.

    Celery counts a revoked task in its chord when a worker knew of the revoke; the lab's cancel of a pending
    job recorded ``cancelled`` first, so a worker that receives the message later skips it, and without this the
    chord would wait for it for ever (a batch's summary would never run). Only for a job the log says was
    cancelled: a copy of a job that ran counted its part already.
    """
    if not getattr(task.request, "chord", None):
        return
    last = _last_event(_lab_conn(task.app), task.request.id)
    if last is not None and last.event == "cancelled":
        task.backend.mark_as_revoked(task.request.id, reason="cancelled before it started", request=task.request)


def _complete_with_result(task: Any, conn: redis.Redis, job_id: str, lab: dict[str, Any]) -> None:
    """Book the job's ``completed`` for the write of its result (``task_postrun`` appends it if that never comes)."""
    meta = lab["meta"]
    command, call = events.append_command(
        conn, job_id, "completed", "completed", rq_status="SUCCESS", attempt=lab["attempt"], worker=lab["worker"],
        message="done", task=meta.get("task", ""), **events.tags({**meta, "engine": ENGINE}),
    )  # fmt: skip
    _completions[_result_key(task, job_id)] = _Completion(conn, (("HDEL", RUNNING, job_id), command), call)


def _result_key(task: Any, job_id: str) -> str:
    return _text(task.backend.get_key_for_task(job_id))


def _text(key: Any) -> str:
    """A result key as :data:`_completions` files it (Celery hands it over as bytes or str)."""
    return key.decode() if isinstance(key, bytes) else str(key)


def _is_lab(task: Any) -> bool:
    return task is not None and task_name_of(getattr(task, "name", "")) is not None


# --------------------------------------------------------------------------- signals -> events


def _emit(conn: redis.Redis, job_id: str, event: str, state: str, meta: dict[str, Any], **fields: Any) -> tuple[str, int]:
    fields.setdefault("task", meta.get("task", ""))
    return events.emit(conn, job_id, event, state, **fields, **events.tags({**meta, "engine": ENGINE}))


@signals.before_task_publish.connect(weak=False)
def _on_publish(sender: str | None = None, headers: dict[str, Any] | None = None, **_: Any) -> None:
    """``enqueued``, recorded by the publisher before the message reaches the broker (not for retries)."""
    conn = _publishing.get()
    headers = headers or {}
    lab = headers.get("lab")
    if conn is None or not lab or int(headers.get("retries") or 0) > 0:
        return
    events.emit(conn, headers["id"], "enqueued", "pending", task=lab["task"], rq_status="PENDING", attempt=0, **lab["data"])


def _running_entry(conn: redis.Redis, job_id: str) -> dict[str, Any]:
    return _load(conn.hget(RUNNING, job_id))


def _worker_alive(conn: redis.Redis, entry: dict[str, Any]) -> bool:
    """Whether the delivery in ``entry`` is still going: its worker beats, and (on this host) its process exists."""
    if entry.get("hostname") == socket.gethostname():
        return pid_alive(int(entry.get("pid") or 0)) and pid_alive(int(entry.get("worker_pid") or 0))
    return bool(conn.exists(_worker_key(entry.get("worker", ""))))


_sent_started: dict[str, tuple[dict[str, Any], tuple[str, int]]] = {}
"""The delivery whose ``started`` rode in its booking (job id -> its lab_delivery and the append's (id, seq))."""


def _fresh_delivery(task: Any, header: dict[str, Any], retries: int, worker: str) -> dict[str, Any]:
    """The lab's view of a delivery the broker did not redeliver: its meta travels in the message header.

    Its attempt is the retries so far plus the redeliveries an earlier delivery went through (carried on
    by the retry's header).
    """
    meta = header["meta"]
    attempt = retries + 1 + int(header.get("redeliveries") or 0)
    return {"task": meta.get("task", ""), "attempt": attempt, "worker": worker, "meta": meta, "skip": False}


def _started_commands(task: Any, task_id: str, lab: dict[str, Any]) -> tuple[tuple[Any, ...], ...]:
    """The running record before the event, in the same round trip: whoever sees it running finds its worker."""
    entry = _running_record(task, lab["attempt"], lab["worker"])
    return ("HSET", RUNNING, task_id, entry), ("SET", _deliveries_key(task_id), lab["attempt"], "EX", settings().result_ttl)


def _started_on_delivery(message: Any) -> tuple[celery_transport.Commands, Any] | None:
    """On the solo pool, ``started`` rides in kombu's booking of the delivery (:mod:`.celery_transport`).

    ``task_prerun`` finds its reply before the body runs, so a job cancelled while it waited still never
    runs, and the event costs no round trip of its own. Not for a job with an ETA (a retry's countdown:
    delivered now, run later), a redelivery (the log must be read first), nor the prefork pool (the child
    that runs the job is not the process that received it).
    """
    app = _consuming.get("app")
    headers = message.headers or {}
    header = headers.get("lab")
    if app is None or _WORKER.get("pool") != "solo" or headers.get("eta") or not isinstance(header, dict):
        return None
    func, job_id = str(headers.get("task") or ""), str(headers.get("id") or "")
    if not header.get("meta") or not job_id or task_name_of(func) is None or (message.delivery_info or {}).get("redelivered"):
        return None
    task = app.tasks[func]
    worker = _WORKER.get("name", "")
    lab = _fresh_delivery(task, header, int(headers.get("retries") or 0), worker)
    meta = lab["meta"]
    conn = _lab_conn(app)
    before = _started_commands(task, job_id, lab)
    command, call = events.append_command(
        conn, job_id, "started", "running", rq_status="STARTED", attempt=lab["attempt"], worker=worker,
        message=f"attempt {lab['attempt']} on {worker}", pid=os.getpid(), task=meta.get("task", ""),
        **events.tags({**meta, "engine": ENGINE}),
    )  # fmt: skip

    def done(replies: list[Any]) -> None:
        if any(isinstance(reply, Exception) for reply in replies[:-1]):
            for again in before:  # idempotent: the running record and the delivery count, the ordinary way
                conn.execute_command(*again)
        reply = events.append_reply(replies[-1], call, conn)  # NOSCRIPT (a flushed server): appended the ordinary way
        if not reply[0]:  # the job is already over (cancelled while it waited): it will not run
            conn.hdel(RUNNING, job_id)
        _sent_started.clear()  # at most one: the solo pool runs what it received before it receives more
        _sent_started[job_id] = (lab, reply)

    return (*before, command), done


celery_transport.on_delivery = _started_on_delivery
_consuming: dict[str, Celery] = {}
"""The app this process's worker consumes for (set at ``worker_init``)."""


@signals.worker_init.connect(weak=False)
def _on_worker_init(sender: Any = None, **_: Any) -> None:
    if sender is not None and getattr(sender, "app", None) is not None:
        _consuming["app"] = sender.app


@signals.task_prerun.connect(weak=False)
def _on_prerun(sender: Any = None, task_id: str | None = None, task: Any = None, **_: Any) -> None:
    """``started`` (after ``abandoned`` when the previous delivery never ended); decides whether this one runs."""
    if not _is_lab(task) or not task_id:
        return
    conn = _lab_conn(task.app)
    writer = _writer(conn)
    writer.collect()  # a deferred ``completed`` of the last job (when no result write carried it), long arrived
    sent = _sent_started.pop(task_id, None)
    if sent is not None:  # ``started`` rode in the delivery's booking
        task.request.lab_delivery, (event_id, _) = sent
        if not event_id:  # the job is already over (cancelled while it waited): its running record is gone
            task.request.lab_delivery["skip"] = True
        return
    header = getattr(task.request, "lab", None)
    if header and header.get("meta") and not (task.request.delivery_info or {}).get("redelivered"):
        _start_fresh(conn, task, task_id, header)  # the common case: one round trip
        return
    with conn.pipeline(transaction=False) as pipe:  # one round trip for what the worker must know first
        pipe.get(_record_key(task_id))
        pipe.xrevrange(keys.job_stream(task_id), count=1)
        pipe.hget(RUNNING, task_id)
        pipe.incr(_deliveries_key(task_id))
        pipe.expire(_deliveries_key(task_id), settings().result_ttl)
        raw_record, newest, raw_previous, attempt, _ = pipe.execute()
    record = _load(raw_record)
    meta = record.get("meta") or {"task": task_name_of(task.name), "retry_plan": []}
    worker = _WORKER.get("name") or str(task.request.hostname or "")
    request = task.request
    request.lab_delivery = {"task": meta.get("task", ""), "attempt": int(attempt), "worker": worker, "meta": meta, "skip": False}
    if not record and not newest:
        # published straight to the broker, not through labs.jobs.submit(): record it so the log stays whole
        _emit(conn, task_id, "enqueued", "pending", meta, rq_status="PENDING",
              message="enqueued outside the lab (not through submit())")  # fmt: skip
    last = events.parse(*newest[0]) if newest else None
    if last is not None and last.state == "running":
        previous = _load(raw_previous)
        late = time.time() - float(previous.get("started", 0)) >= 0.9 * visibility_timeout()
        if previous and late and _worker_alive(conn, previous):
            # the visibility timeout ran out while the first delivery still runs: the broker sent a copy
            request.lab_delivery["skip"] = True
            conn.decr(_deliveries_key(task_id))
            return
        _emit(conn, task_id, "abandoned", "running", meta, rq_status="STARTED", attempt=last.attempt, worker=last.worker,
              reason="abandoned", error="the delivery before this one never finished (its worker died)",
              message="redelivered by the broker: the last delivery never finished")  # fmt: skip
    entry = _running_record(task, int(attempt), worker)
    event_id, _ = _emit(  # the running record first, in the same round trip: whoever sees it running finds its worker
        conn, task_id, "started", "running", meta, rq_status="STARTED", attempt=int(attempt), worker=worker,
        message=f"attempt {attempt} on {worker}", pid=os.getpid(),
        also=lambda pipe: pipe.hset(RUNNING, task_id, entry),
    )  # fmt: skip
    if not event_id:  # the job is already over (cancelled while it waited): do not run it
        request.lab_delivery["skip"] = True
        conn.hdel(RUNNING, task_id)


def _running_record(task: Any, attempt: int, worker: str) -> str:
    return json.dumps(
        {
            "worker": worker,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "worker_pid": _WORKER.get("pid") or os.getpid(),
            "attempt": attempt,
            "acks_late": bool(task.acks_late),
            "pool": _WORKER.get("pool", ""),
            "started": time.time(),
        }
    )


def _start_fresh(conn: redis.Redis, task: Any, task_id: str, header: dict[str, Any]) -> None:
    """``started`` for a delivery the broker did not redeliver: nothing to look up, the message says it all."""
    worker = _WORKER.get("name") or str(task.request.hostname or "")
    lab = task.request.lab_delivery = _fresh_delivery(task, header, int(task.request.retries or 0), worker)
    commands = _started_commands(task, task_id, lab)

    def also(pipe: Any) -> None:
        for command in commands:
            pipe.execute_command(*command)

    event_id, _ = _emit(conn, task_id, "started", "running", lab["meta"], rq_status="STARTED", attempt=lab["attempt"],
                        worker=worker, message=f"attempt {lab['attempt']} on {worker}", pid=os.getpid(), also=also)  # fmt: skip
    if not event_id:  # the job is already over (cancelled while it waited): do not run it
        lab["skip"] = True
        conn.hdel(RUNNING, task_id)


def _context_of(conn: redis.Redis, task: Any, job_id: str) -> tuple[dict[str, Any], int, str]:
    """(meta, attempt, worker) of a job's current delivery, from the request or the running record."""
    lab = getattr(task.request, "lab_delivery", None) if task is not None and task.request.id == job_id else None
    if lab:
        return lab["meta"], lab["attempt"], lab["worker"]
    entry = _running_entry(conn, job_id)
    return _meta(conn, job_id), int(entry.get("attempt") or 1), str(entry.get("worker") or _WORKER.get("name", ""))


def _finish(conn: redis.Redis, job_id: str, task: Any) -> None:
    lab = getattr(task.request, "lab_delivery", None) if task is not None and task.request.id == job_id else None
    if lab and lab.get("skip"):
        return  # a skipped copy does not own the running record
    conn.hdel(RUNNING, job_id)


@signals.task_postrun.connect(weak=False)
def _on_postrun(sender: Any = None, task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    if not _is_lab(task) or not task_id:
        return
    conn = _lab_conn(task.app)
    completion = _completions.pop(_result_key(task, task_id), None)
    if completion is not None and state == "SUCCESS" and not completion.written:
        # no result write carried it (a backend of another kind): sent now, its reply read before the next job
        _writer(conn).emit(before=completion.commands[:-1], **completion.call)
        return
    if completion is None or state != "SUCCESS":
        _finish(conn, task_id, task)


@signals.task_retry.connect(weak=False)
def _on_retry(sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    """``retry_scheduled`` with the wait the lab planned (and ``timed_out`` first after a soft time limit)."""
    if not _is_lab(sender) or request is None:
        return
    conn = _lab_conn(sender.app)
    meta, attempt, worker = _context_of(conn, sender, request.id)
    exc = getattr(reason, "exc", None)
    why = "timeout" if isinstance(exc, SoftTimeLimitExceeded) else "error"
    error = _error_line(exc)
    booked = getattr(request, "lab_booked_at", None)  # the wait starts when it was booked, not when this runs
    common = {"attempt": attempt, "worker": worker, "error": error, "reason": why, "ts": booked}
    if why == "timeout":
        _emit(conn, request.id, "timed_out", "running", meta, rq_status="STARTED", message=error, **common)
    plan = list(meta.get("retry_plan") or [])
    index = int(request.retries or 0)
    demo = float(plan[index]) if index < len(plan) else 0.0
    when = getattr(reason, "when", None)
    real = float(when) if isinstance(when, int | float) else scaled(demo)
    _emit(conn, request.id, "retry_scheduled", "pending", meta, rq_status="RETRY", next_attempt=attempt + 1,
          delay=demo, delay_seconds=real, message=f"redelivery in {demo:g} s", **common)  # fmt: skip


def _dead_letter(conn: redis.Redis, job_id: str, meta: dict[str, Any], reason: str, error: str, attempt: int, worker: str,
                 *, exhausted: bool = False) -> None:  # fmt: skip
    common = {"attempt": attempt, "worker": worker, "reason": reason, "error": error}
    event_id, _ = _emit(conn, job_id, "failed", "failed", meta, rq_status="FAILURE", retries_exhausted=exhausted, message=error,
                        **common)  # fmt: skip
    if not event_id:
        return  # it already had its verdict (a hard time limit is also a lost child): one dead letter, not two
    _emit(conn, job_id, "dead_lettered", "failed", meta, rq_status="FAILURE", attempts=attempt,
          message="sent to the dead-letter queue", also=lambda pipe: pipe.zadd(keys.DEAD_LETTERS, {job_id: time.time()}),
          **common)  # fmt: skip


@signals.task_failure.connect(weak=False)
def _on_failure(sender: Any = None, task_id: str | None = None, exception: BaseException | None = None, **_: Any) -> None:
    """The verdict of a delivery that raised, timed out or lost its process."""
    if not _is_lab(sender) or not task_id:
        return
    conn = _lab_conn(sender.app)
    meta, attempt, worker = _context_of(conn, sender, task_id)
    common = {"attempt": attempt, "worker": worker}
    error = _error_line(exception)
    if isinstance(exception, JobCancelled):
        _emit(conn, task_id, "cancelled", "failed", meta, rq_status="REVOKED", reason="cancelled", error="cancelled on request",
              message="cancelled while running", **common)  # fmt: skip
    elif isinstance(exception, SoftTimeLimitExceeded | TimeLimitExceeded):
        _emit(conn, task_id, "timed_out", "running", meta, rq_status="STARTED", reason="timeout", error=error, message=error,
              **common)  # fmt: skip
        _dead_letter(conn, task_id, meta, "timeout", error, attempt, worker)
    elif isinstance(exception, WorkerLostError):
        _emit(conn, task_id, "abandoned", "running", meta, rq_status="STARTED", reason="abandoned", error=error, message=error,
              **common)  # fmt: skip
        _dead_letter(conn, task_id, meta, "lost", f"{error} (acknowledged on receipt: nothing to redeliver)", attempt, worker)
    elif isinstance(exception, PermanentError):
        _dead_letter(conn, task_id, meta, "permanent", error, attempt, worker)
    else:
        _dead_letter(conn, task_id, meta, "error", error, attempt, worker, exhausted=bool(meta.get("retry_plan")))
    _finish(conn, task_id, sender)


@signals.task_revoked.connect(weak=False)
def _on_revoked(sender: Any = None, request: Any = None, terminated: bool = False, **_: Any) -> None:
    if not _is_lab(sender) or request is None:
        return
    conn = _lab_conn(sender.app)
    meta, attempt, worker = _context_of(conn, sender, request.id)
    message = "cancelled while running (its process was terminated)" if terminated else "cancelled (revoked)"
    _emit(conn, request.id, "cancelled", "failed", meta, rq_status="REVOKED", attempt=attempt, worker=worker,
          reason="cancelled", error="cancelled on request", message=message)  # fmt: skip
    conn.hdel(RUNNING, request.id)


@signals.task_unknown.connect(weak=False)
def _on_unknown(sender: Any = None, name: str | None = None, id: str | None = None, **_: Any) -> None:  # noqa: A002
    """A message naming a function outside the catalogue: the worker refuses it, the log says so."""
    if sender is None or not id:
        return
    conn = _lab_conn(sender.app)
    meta = {"task": str(name or "")}
    if not conn.exists(keys.job_stream(id)):
        _emit(
            conn, id, "enqueued", "pending", meta, rq_status="PENDING", message="enqueued outside the lab (not through submit())"
        )
    error = f"ForbiddenTask: {name!r} is not in the lab's task catalogue"
    _dead_letter(conn, id, meta, "permanent", error, 0, _WORKER.get("name", ""))


# --------------------------------------------------------------------------- the worker's heartbeat and watchdog

_WORKER: dict[str, Any] = {}
"""This process's worker: name, pid, pool (set by :func:`run_worker`; empty outside a worker)."""

_CLAIM_LUA = "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0"


def _beat(conn: redis.Redis) -> None:
    info = {**_WORKER, "hostname": socket.gethostname(), "last_heartbeat": time.time(), "acks_late": acks_late()}
    with conn.pipeline(transaction=False) as pipe:
        pipe.set(_worker_key(_WORKER["name"]), json.dumps(info), px=int(heartbeat_grace() * 1000))
        pipe.sadd(WORKERS, _WORKER["name"])
        pipe.execute()


def sweep_lost(conn: redis.Redis, engine: CeleryEngine | None = None) -> list[str]:
    """Record the fate of jobs whose worker died mid-delivery; return their ids.

    Still held by the broker (``acks_late``: unacked, back after the visibility
    timeout) -> ``abandoned`` and a redelivery booked; gone (acknowledged on
    receipt) -> ``abandoned`` and ``failed`` with reason ``lost``, into the DLQ.
    """
    engine = engine or CeleryEngine()
    handled = []
    held: set[str] | None = None
    for raw_id, raw in conn.hgetall(RUNNING).items():
        entry = _load(raw)
        if entry.get("worker") == _WORKER.get("name") or _worker_alive(conn, entry):
            continue
        job_id = raw_id.decode()
        if not conn.eval(_CLAIM_LUA, 1, RUNNING, job_id, raw):  # another watchdog took it, or it moved on
            continue
        held = set(engine.held(conn)) if held is None else held
        meta = _meta(conn, job_id)
        attempt, worker = int(entry.get("attempt") or 1), str(entry.get("worker") or "")
        error = f"worker {worker} stopped answering mid-job (killed or crashed)"
        _emit(conn, job_id, "abandoned", "running", meta, rq_status="STARTED", attempt=attempt, worker=worker,
              reason="abandoned", error=error, message=error)  # fmt: skip
        if job_id in held:
            wait = visibility_timeout_demo()
            _emit(conn, job_id, "retry_scheduled", "pending", meta, rq_status="PENDING", attempt=attempt, worker=worker,
                  reason="abandoned", error=error, next_attempt=attempt + 1, delay=wait, delay_seconds=visibility_timeout(),
                  redelivery="visibility_timeout",
                  message=f"the broker still holds it: redelivery within {wait:g} s (visibility timeout)")  # fmt: skip
        else:
            _dead_letter(conn, job_id, meta, "lost", f"{error}; the broker no longer holds it (acknowledged on receipt)",
                         attempt, worker)  # fmt: skip
        handled.append(job_id)
    return handled


def _watch(app: Celery, stop: threading.Event) -> None:
    conn = _lab_conn(app)
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


_stop_watch = threading.Event()


@signals.worker_ready.connect(weak=False)
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    if not _WORKER or sender is None:
        return
    _beat(_lab_conn(sender.app))
    threading.Thread(target=_watch, args=(sender.app, _stop_watch), name="lab-celery-watch", daemon=True).start()


@signals.worker_shutdown.connect(weak=False)
def _on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    if not _WORKER or sender is None:
        return
    _stop_watch.set()
    _collect_all()
    conn = _lab_conn(sender.app)
    conn.delete(_worker_key(_WORKER["name"]))
    conn.srem(WORKERS, _WORKER["name"])


@signals.worker_process_shutdown.connect(weak=False)
def _collect_all(**_: Any) -> None:
    """Read the last deferred replies of this process (a prefork child, or the solo worker) before it ends."""
    for (pid, _conn), writer in list(_writers.items()):
        if pid == os.getpid():
            with contextlib.suppress(redis.RedisError, OSError):
                writer.collect()


POOLS = {"fork": "prefork", "simple": "solo"}


def run_worker(kind: str | None = None, name: str | None = None, log_level: str = "INFO") -> int:
    """Run one Celery worker in this process (``python -m labs worker --engine celery``) until stopped."""
    from ..worker import preload, stop_with_parent

    url = redis_url()
    if url is None:
        raise SystemExit("no broker: set REDIS_URL or start `python -m labs broker`")
    connect(url)  # a clear one-line error when it does not answer
    kind = kind or "fork"
    if kind not in POOLS:
        raise SystemExit(f"the celery engine has worker kinds {', '.join(POOLS)}, not {kind!r}")
    name = name or f"celery-{kind}-{os.getpid()}"
    _WORKER.update({"name": name, "pid": os.getpid(), "pool": POOLS[kind], "kind": kind, "engine": ENGINE, "queue": queue()})
    app = app_for(url)
    warmed = preload()
    print(f"worker {name}: " + "; ".join(f"{module}: {said}" for module, said in warmed.items()), flush=True)
    if settings().parent_pid is not None:
        stop_with_parent(settings().parent_pid)
    print(f"celery worker {name} ({POOLS[kind]}) listening on queue {queue()!r}", flush=True)
    argv = ["worker", "-P", POOLS[kind], "-c", "1", "-n", f"{name}@%h", "-Q", queue(),
            "--without-gossip", "--without-mingle", "-l", log_level]  # fmt: skip
    if settings().celery_task_events:
        argv.append("-E")  # task events for Flower from the first job (Flower also asks for them when it starts)
    app.worker_main(argv)
    return 0


def flower_command(host: str = "127.0.0.1", port: int = 5555) -> list[str]:
    """Flower on this process's broker (``celery -A labs.engines.celery flower``), bound to ``host``.

    Flower refuses its HTTP API (``/api/workers``, ``/api/tasks``) unless started
    with ``FLOWER_UNAUTHENTICATED_API=true`` or basic auth (``FLOWER_BASIC_AUTH=user:password``).
    """
    return [sys.executable, "-m", "celery", "-A", __name__, "flower", f"--address={host}", f"--port={port}"]


# --------------------------------------------------------------------------- the engine


class CeleryEngine(Engine):
    name = ENGINE
    kinds = ("fork", "simple")

    def app(self, conn: redis.Redis) -> Celery:
        return app_for(url_of(conn))

    def submit(self, conn: Any, job: dict[str, Any]) -> None:
        job_id, task = job["id"], job["task"]
        record = {"func": job["func"], "params": job["params"], "meta": job["meta"]}
        conn.set(_record_key(job_id), json.dumps(record), ex=settings().result_ttl)
        soft, hard = time_limits(job["timeout"])
        token = _publishing.set(conn)
        try:
            self.app(conn).tasks[job["func"]].apply_async(
                kwargs=job["params"],
                task_id=job_id,
                queue=queue(job.get("queue")),
                soft_time_limit=soft,
                time_limit=hard,
                headers={"lab": {"task": task, "data": job["data"], "meta": job["meta"]}},
            )
        except Exception as exc:
            events.emit(conn, job_id, "failed", "failed", task=task, reason="enqueue_error", error=str(exc), engine=ENGINE)
            raise
        finally:
            _publishing.reset(token)

    def _signature(self, conn: Any, job: dict[str, Any], **lab: Any) -> Any:
        """A lab job as a Celery signature (its record written first), with the lab's header, as :meth:`submit` sends."""
        record = {"func": job["func"], "params": job["params"], "meta": job["meta"]}
        conn.set(_record_key(job["id"]), json.dumps(record), ex=settings().result_ttl)
        soft, hard = time_limits(job["timeout"])
        header = {"task": job["task"], "data": job["data"], "meta": job["meta"], **lab}
        return (
            self.app(conn)
            .tasks[job["func"]]
            .signature(
                kwargs=job["params"],
                task_id=job["id"],
                queue=queue(job.get("queue")),
                soft_time_limit=soft,
                time_limit=hard,
                headers={"lab": header},
            )  # fmt: skip
        )

    def submit_then(self, conn: Any, header: list[dict[str, Any]], body: dict[str, Any]) -> None:
        """Celery's own tool for "all files, then a summary": ``chord(group(header))(body)``.

        The header jobs are published at once (each with its ``enqueued``, as :meth:`submit`); the body is
        published by the worker that ends the last of them, so its ``enqueued`` is written here, first. The body
        is immutable (``si``): it reads what happened from the event log, not from Celery's list of results.
        Celery calls a chord's body only if every header task succeeded; a lab chord is sent with
        ``allow_failure`` and its result backend (:class:`LabRedisBackend`) counts a failed header task as
        ended, so the summary still runs and reports it, while that task's own record stays ``FAILURE``.
        Why not have the failed task return its failure as a result: the log and Celery's record would then say
        ``SUCCESS`` for a PDF that could not be read. Why not ``link_error``: it runs an errback, not the body.
        Celery counts a failed part (in ``mark_as_failure``) a moment before its ``task_failure`` signal has the
        lab write ``failed``, so the summary's body waits until the log says every file ended before it reports.
        """
        events.emit(conn, body["id"], "enqueued", "pending", task=body["task"], rq_status="PENDING", attempt=0,
                    message=f"waits for {len(header)} jobs (a chord's body)", **body["data"])  # fmt: skip
        callback = self._signature(conn, body, allow_failure=True).set(immutable=True)
        token = _publishing.set(conn)
        try:
            chord([self._signature(conn, job) for job in header])(callback)
        except Exception as exc:
            for job in [*header, body]:
                events.emit(conn, job["id"], "failed", "failed", task=job["task"], reason="enqueue_error", error=str(exc),
                            engine=ENGINE)  # fmt: skip
            raise
        finally:
            _publishing.reset(token)

    def cancel(self, conn: Any, job_id: str) -> str | None:
        """A pending job: ``cancelled`` at once, and revoked (a worker that holds it drops it).

        A running one: the cancel flag (every pool) and, on the prefork pool,
        ``revoke(terminate=True)``, which kills its child process.
        """
        state = events.current_state(conn, job_id)
        if state is None and not conn.exists(_record_key(job_id)):
            return None
        if state in {"completed", "failed"}:
            return state
        conn.set(keys.cancel_flag(job_id), "1", ex=settings().result_ttl)
        app = self.app(conn)
        if state == "pending":
            meta = _meta(conn, job_id)
            attempt = int(conn.get(_deliveries_key(job_id)) or 0)
            _emit(conn, job_id, "cancelled", "failed", meta, rq_status="REVOKED", attempt=attempt, reason="cancelled",
                  message="cancelled before a worker picked it up")  # fmt: skip
            app.backend.mark_as_revoked(job_id, reason="cancelled before a worker picked it up")  # AsyncResult: REVOKED
            app.control.revoke(job_id)
        elif _running_entry(conn, job_id).get("pool") == "prefork":
            app.control.revoke(job_id, terminate=True, signal="SIGTERM")
        return events.current_state(conn, job_id)

    def record(self, conn: Any, job_id: str) -> dict[str, Any] | None:
        record = _load(conn.get(_record_key(job_id)))
        result = _load(conn.get(f"celery-task-meta-{job_id}"))
        if not record and not result:
            return None
        status = str(result.get("status") or "PENDING")
        return {
            "status": status,
            "meta": record.get("meta", {}),
            "params": record.get("params", result.get("kwargs") or {}),
            "result": result.get("result") if status == "SUCCESS" else None,
        }

    def update_meta(self, conn: Any, job_id: str, **fields: Any) -> None:
        record = _load(conn.get(_record_key(job_id)))
        if record:
            record["meta"] = {**record.get("meta", {}), **fields}
            conn.set(_record_key(job_id), json.dumps(record), keepttl=True)

    def forget(self, conn: Any, job_id: str) -> None:
        conn.delete(_record_key(job_id), f"celery-task-meta-{job_id}", _deliveries_key(job_id))

    def held(self, conn: Any) -> list[str]:
        """Jobs in the Celery queue, unacknowledged by a worker (running, or waiting for a retry's countdown), or running."""
        ids: list[str] = []
        for raw in conn.lrange(queue(), 0, -1):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                ids.append(json.loads(raw)["headers"]["id"])
        for raw in conn.hvals("unacked"):
            with contextlib.suppress(ValueError, KeyError, TypeError, IndexError):
                ids.append(json.loads(raw)[0]["headers"]["id"])
        ids += [raw.decode() for raw in conn.hkeys(RUNNING)]
        return list(dict.fromkeys(ids))

    def backlog(self, conn: Any, job_id: str) -> dict[str, Any] | None:
        """kombu's Redis transport LPUSHes a message and its workers BRPOP: the jobs ahead are those to its right."""
        name = queue(_meta(conn, job_id).get("queue"))
        messages = conn.lrange(name, 0, -1)
        ahead = next((len(messages) - 1 - i for i, raw in enumerate(messages) if job_id.encode() in raw), None)
        listeners = [w for w in self.workers(conn) if w["queue"] == name]
        return {"queue": name, "ahead": ahead, "workers": len(listeners)}

    def workers(self, conn: Any) -> list[dict[str, Any]]:
        """The live Celery workers (their heartbeat has not expired), in the shape of RQ's list."""
        return heartbeat_workers(
            conn, ENGINE, WORKERS, _worker_key, RUNNING,
            lambda info: {"kind": info.get("kind", ""), "pool": info.get("pool", ""), "acks_late": bool(info.get("acks_late"))},
        )  # fmt: skip

    def stop_worker(self, conn: Any, name: str) -> None:
        """Warm shutdown: the worker finishes its current job, then leaves (``celery control shutdown``)."""
        info = next((w for w in self.workers(conn) if w["name"] == name), None)
        if info is None:
            raise KeyError(f"no live celery worker named {name!r}")
        self.app(conn).control.shutdown(destination=[f"{name}@{info['hostname']}"])

    def run_worker(self, kind: str | None = None, name: str | None = None, log_level: str = "INFO") -> int:
        """Run one worker in this process (what :meth:`worker_command` starts)."""
        return run_worker(kind, name, log_level)

    def worker_command(self, kind: str | None = None, name: str | None = None) -> list[str]:
        args = [sys.executable, "-m", "labs", "worker", "--engine", self.name]
        if kind:
            args.append(f"--{kind}")
        if name:
            args += ["--name", name]
        return args
