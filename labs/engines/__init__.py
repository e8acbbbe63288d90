"""The engines that run the lab's jobs: RQ (the lab's first), Celery and ARQ (the seed's), one module each.

Every engine runs the *same* catalogue bodies (:mod:`labs.catalogue`) and
writes the *same* lifecycle events (:mod:`labs.events`, each with an
``engine`` field), so everything that reads the log — the API, the
dashboard, the lessons — needs no engine-specific code. An engine only
knows how to hand a job to its own queue and workers:

- :meth:`Engine.submit` — enqueue a validated catalogue task (JSON params,
  its planned retries, its timeout);
- :meth:`Engine.submit_then` — many jobs, then one more once they have all
  ended (RQ's ``Dependency``, Celery's ``chord``; ARQ has neither);
- :meth:`Engine.cancel` — a pending job never runs, a running one is stopped;
- :meth:`Engine.record` — what the engine itself knows of a job (its status,
  the lab's meta, params, result);
- :meth:`Engine.held` — which jobs its queues and workers hold right now;
- :meth:`Engine.backlog` — where a pending job waits: its queue, the jobs ahead, the workers listening;
- :meth:`Engine.worker_command` — the command that starts one of its workers.

The seam speaks plain data (dicts of JSON values), so the core
(:mod:`labs.jobs`, :mod:`labs.dlq`) reaches an engine by name through
:func:`get_engine`, as the catalogue names its bodies, without importing
this runtime layer. A third engine is one module and one line in
:data:`ENGINES`.
"""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from ..errors import InvalidParams

DEFAULT = "rq"

ENGINES: dict[str, str] = {
    "rq": "labs.engines.rq:RQEngine",
    "celery": "labs.engines.celery:CeleryEngine",
    "arq": "labs.engines.arq:ArqEngine",
}
"""Engine name -> ``module:class``, imported only when used (Celery and ARQ are not loaded for an RQ job)."""


class UnknownEngine(InvalidParams):
    """An engine name the lab does not have (the API answers 422 with the list)."""


class Engine(ABC):
    """What the lab asks of an engine. Every argument and answer is plain JSON-able data.

    ``job`` handed to :meth:`submit` has: ``id``, ``task`` (catalogue name),
    ``func`` (the body's dotted path), ``params`` (validated JSON kwargs),
    ``retry_plan`` (planned waits in demo seconds, one per retry), ``timeout``
    (demo seconds), ``meta`` (the lab's bookkeeping: task, attempt,
    max_retries, retry_policy, retry_plan, timeout, redrive_of, batch,
    student, engine, submitted_at) and ``data`` (the fields of the
    ``enqueued`` event).
    """

    name: ClassVar[str]
    kinds: ClassVar[tuple[str, ...]]
    """The worker kinds it can start (``fork``, ``simple``, ...); the first is its default."""

    @abstractmethod
    def submit(self, conn: Any, job: dict[str, Any]) -> None:
        """Record ``enqueued`` and hand the job to the engine's queue (the event comes first)."""

    def submit_then(self, conn: Any, header: list[dict[str, Any]], body: dict[str, Any]) -> None:
        """Submit ``header``, then ``body`` to run once every header job has ended (completed or failed).

        This default, for an engine with no dependencies of its own (ARQ), sends them all at once: the body
        must wait for the header itself (``summarize_batch`` waits until the event log says each job ended).
        RQ overrides it with ``Dependency(allow_failure=True)``, Celery with a ``chord``.
        """
        for job in header:
            self.submit(conn, job)
        self.submit(conn, body)

    @abstractmethod
    def cancel(self, conn: Any, job_id: str) -> str | None:
        """Cancel the job; return its state after the request (None: the engine never heard of it)."""

    @abstractmethod
    def record(self, conn: Any, job_id: str) -> dict[str, Any] | None:
        """``{"status", "meta", "params", "result"}`` as the engine keeps them, or None."""

    @abstractmethod
    def update_meta(self, conn: Any, job_id: str, **fields: Any) -> None:
        """Add fields to the lab's meta of a job (e.g. when the DLQ sweeper logged it)."""

    @abstractmethod
    def held(self, conn: Any) -> list[str]:
        """Ids of the jobs the engine holds now: waiting, scheduled for a retry, or running."""

    @abstractmethod
    def worker_command(self, kind: str | None = None, name: str | None = None) -> list[str]:
        """The command line that starts one worker of this engine."""

    def backlog(self, conn: Any, job_id: str) -> dict[str, Any] | None:
        """``{"queue", "ahead", "workers"}`` for a pending job: its queue's key, how many jobs are ahead of it
        (None: it is not in the queue itself, e.g. it waits for a retry) and how many live workers listen there.

        What a job that cannot start says (:func:`labs.jobs.why_not_done`); None when the engine cannot tell.
        """
        return None

    def forget(self, conn: Any, job_id: str) -> None:  # noqa: B027 - optional
        """Drop the engine's own record of a finished job (discarded from the DLQ)."""


def heartbeat_workers(
    conn: Any,
    engine: str,
    members: str,
    info_key: Callable[[str], str],
    running: str,
    fields: Callable[[dict[str, Any]], dict[str, Any]],
) -> list[dict[str, Any]]:
    """The live workers of an engine that keeps its own registry (Celery, ARQ), in the shape of RQ's list.

    ``members`` is the set of worker names, ``info_key(name)`` each one's JSON
    heartbeat record (gone once it expires: that worker is dead), ``running``
    the hash job id -> JSON delivery record naming its worker; ``fields(info)``
    adds what only that engine knows.
    """
    names = sorted(raw.decode() for raw in conn.smembers(members))
    busy: dict[str, str] = {}
    for job_id, raw in conn.hgetall(running).items():
        if raw and (entry := json.loads(raw)):
            busy.setdefault(entry.get("worker", ""), job_id.decode())
    out = []
    for name, raw in zip(names, conn.mget([info_key(n) for n in names]) if names else [], strict=True):
        if raw is None:
            continue
        info = json.loads(raw)
        out.append(
            {
                "name": name,
                "engine": engine,
                "state": "busy" if name in busy else "idle",
                "current_job": busy.get(name),
                "pid": int(info.get("pid") or 0),
                "hostname": info.get("hostname", ""),
                "last_heartbeat": info.get("last_heartbeat"),
                "queue": info.get("queue", ""),
                **fields(info),
            }
        )
    return out


_instances: dict[str, Engine] = {}


def names() -> list[str]:
    """The engines' names, the default first, then in the order they joined the lab."""
    return [DEFAULT, *(name for name in ENGINES if name != DEFAULT)]


def check_name(name: str) -> str:
    """``name`` if it is an engine, else :class:`UnknownEngine` listing the engines."""
    if not isinstance(name, str) or name not in ENGINES:
        raise UnknownEngine(f"unknown engine {name!r}; the lab has: {', '.join(names())}")
    return name


def get_engine(name: str | None = None) -> Engine:
    """The engine called ``name`` (default ``rq``); :class:`UnknownEngine` lists the engines."""
    name = check_name(name or DEFAULT)
    engine = _instances.get(name)
    if engine is None:
        module, _, cls = ENGINES[name].partition(":")
        engine = _instances[name] = getattr(importlib.import_module(module), cls)()
    return engine
