"""A running lab in one object: a broker, some workers, and a connection.

Notebooks and tests use it to get a real lab with one line::

    with LabSession(workers=2) as lab:
        job_id = lab.submit("slow_task", {"steps": 5})
        print(lab.wait(job_id).state)

The broker is ``REDIS_URL`` when set, otherwise the embedded broker (started in
the background if none is running). Workers are real processes
(``python -m labs worker``), stopped again by :meth:`stop`. ``engine="celery"``
starts Celery workers instead of RQ's, and sends jobs to Celery::

    with LabSession(workers=1, engine="celery") as lab:
        lab.wait(lab.submit("send_email", {"fail_first": 2}))

Each session has a queue of its own (``lesson-<6 hex>``, or ``queue=``; Celery's
and ARQ's keys are derived from it as from ``LAB_QUEUE``), so a lesson's jobs
never wait behind thousands that somebody else left in the lab's queue: its
workers listen there (``LAB_QUEUE`` in their environment) and :meth:`submit`
sends there. While it runs, ``LAB_QUEUE`` is also set in *this* process, so
what the lesson starts here (an API server in a thread, a scenario, a redrive)
or as a subprocess sends there too. Sessions of one lesson on different engines
share one name (``queue=lab.queue``: RQ's queue, ``-celery`` and ``-arq``), so that
code that reads ``LAB_QUEUE`` finds each engine's queue. ``queue=queue_name()``
shares the lab's queue instead (a dashboard or API started beforehand sends
there). :meth:`stop` deletes the queue's keys when it left nothing in them.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid
from typing import Any

import redis

from . import jobs
from .broker import connect, ensure_broker
from .engines import check_name
from .events import Replay
from .launcher import engine_workers, start_worker, stop_process
from .settings import queue_name, set_variable, state_dir, variable
from .task_queue import lab_queue

_running: list[LabSession] = []
"""The sessions started in this process and not yet stopped: ``LAB_QUEUE`` is the newest's queue."""
_outer_queue: list[str | None] = []
"""``LAB_QUEUE`` as it was before the first of them started (put back when the last one stops)."""


class LabSession:
    def __init__(
        self,
        workers: int = 1,
        kind: str = "fork",
        env: dict[str, str] | None = None,
        engine: str = "rq",
        queue: str | None = None,
    ) -> None:
        self.n_workers = workers
        self.kind = kind
        self.engine = check_name(engine)
        self.queue = queue or f"lesson-{uuid.uuid4().hex[:6]}"
        self.env = {**(env or {}), "LAB_QUEUE": self.queue}
        self.url = ""
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._conn: redis.Redis | None = None

    @property
    def conn(self) -> redis.Redis:
        if self._conn is None:
            self._conn = connect(self.url)
        return self._conn

    def start(self) -> LabSession:
        self.url = ensure_broker()
        _use_queue(self)
        names = [self.add_worker(wait=False) for _ in range(self.n_workers)]
        self.wait_registered(names)
        return self

    def live_names(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is None]

    def add_worker(self, kind: str | None = None, wait: bool = True) -> str:
        """Start one more worker process; return its name."""
        kind = kind or self.kind
        name = f"{kind}-{uuid.uuid4().hex[:6]}"
        self.procs[name] = start_worker(kind, name=name, env={"REDIS_URL": self.url, **self.env}, engine=self.engine)
        if wait:
            self.wait_registered([name])
        return name

    def wait_registered(self, names: list[str], timeout: float = 20.0) -> None:
        """Block until each of ``names`` has registered with the broker.

        Waits for these very workers, not for a head count: a worker killed a
        moment ago stays registered until its key expires, and would be
        counted in place of the one still starting. Raises RuntimeError when
        one of them exited (its log says why) and TimeoutError after ``timeout``.
        """
        deadline = time.monotonic() + timeout
        waiting = set(names)
        while waiting:
            waiting -= {w["name"] for w in engine_workers(self.conn, self.engine)}
            for name in sorted(waiting):
                proc = self.procs.get(name)
                if proc is None or proc.poll() is not None:
                    code = None if proc is None else proc.returncode
                    raise RuntimeError(f"worker {name} exited ({code}) before registering; see {state_dir() / 'logs'}")
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers {sorted(waiting)} not registered after {timeout:g} s; see {state_dir() / 'logs'}")
            time.sleep(0.05)

    def stop_worker(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            stop_process(proc)

    def submit(self, task: str, params: dict[str, Any] | None = None, **options: Any) -> str:
        options.setdefault("engine", self.engine)
        options.setdefault("queue", self.queue)
        return jobs.submit(self.conn, task, params, **options)

    def wait(self, job_id: str, timeout: float = 60.0, states: set[str] | None = None) -> Replay:
        return jobs.wait_for(self.conn, job_id, timeout=timeout, states=states)

    def workers(self) -> list[dict[str, Any]]:
        """This session's live workers (the broker may have others, on other queues)."""
        return [w for w in engine_workers(self.conn, self.engine) if w["name"] in self.procs]

    def stop(self) -> None:
        for name in list(self.procs):
            self.stop_worker(name)
        if self in _running:
            _drop_queue(self)
            if self.url and self.queue != queue_name():
                with contextlib.suppress(redis.RedisError, OSError):  # tidying up: a broker gone meanwhile is no error
                    self._delete_empty_queue()

    def _delete_empty_queue(self) -> None:
        """Delete the keys of this session's queue if nothing is left in them (a failed job keeps them: the DLQ lists it).

        Celery's and ARQ's queues are a list and a sorted set, which Redis deletes once empty; kombu's binding stays.
        """
        queue = lab_queue(self.conn, self.queue)
        holding = (queue.started_job_registry, queue.scheduled_job_registry, queue.deferred_job_registry,
                   queue.failed_job_registry)  # fmt: skip
        if queue.count or any(registry.count for registry in holding):
            return
        queue.delete(delete_jobs=False)
        self.conn.delete(queue.finished_job_registry.key, queue.canceled_job_registry.key)
        if not self.conn.exists(f"{self.queue}-celery"):
            self.conn.delete(f"_kombu.binding.{self.queue}-celery")

    def __enter__(self) -> LabSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _use_queue(session: LabSession) -> None:
    """``LAB_QUEUE`` = the session's queue in this process (see the module's docstring)."""
    if not _running:
        _outer_queue[:] = [variable("LAB_QUEUE")]
    _running.append(session)
    set_variable("LAB_QUEUE", session.queue)


def _drop_queue(session: LabSession) -> None:
    """Back to the queue of the newest session still running, or to ``LAB_QUEUE`` as it was before them."""
    _running.remove(session)
    set_variable("LAB_QUEUE", _running[-1].queue if _running else _outer_queue[0])
