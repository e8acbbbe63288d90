"""RQ behind the engine seam: the lab's first engine, unchanged.

Jobs go through the lab's RQ queue with RQ's JSON serializer (never pickle),
with the planned retries as RQ's ``Retry(max, interval=[...])`` and the
timeout as RQ's ``job_timeout``. The worker side (the lifecycle events, the
allow-list, abandoned jobs) is :mod:`labs.worker`.

Fair share (:mod:`labs.fairness`): a job waits in the queue
:func:`~labs.fairness.queue_for` chooses (its student's, the instructor's
priority queue, or the lab queue), named in its meta as ``lane``; its RQ
origin stays the lab queue (``queue`` in its meta).
"""

from __future__ import annotations

import contextlib
import math
import sys
from typing import Any

from rq import Worker
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Dependency, Job, JobStatus

from .. import events, fairness, keys
from ..clock import scaled
from ..retry import to_rq
from ..settings import settings
from ..states import is_terminal, state_of
from ..task_queue import SERIALIZER, fetch_job, lab_queue
from . import Engine

RESULT_TTL = 7 * 24 * 3600
"""The default of ``LAB_RESULT_TTL`` (what the engine uses is ``settings().result_ttl``)."""
FAILURE_TTL = 7 * 24 * 3600
PENDING_STATUSES = {"queued", "scheduled", "deferred", "created"}


def job_timeout(seconds: float) -> int:
    """A timeout in demo seconds as RQ's whole seconds (scaled; RQ's alarm needs >= 1 s)."""
    return max(1, math.ceil(scaled(seconds)))


def _worker_kind(conn: Any, worker_name: str | None) -> str:
    if not worker_name:
        return ""
    value = conn.hget(f"rq:worker:{worker_name}", "lab_kind")
    return value.decode() if value else ""


class RQEngine(Engine):
    name = "rq"
    kinds = ("fork", "simple", "spawn")

    def _rq_job(self, conn: Any, job: dict[str, Any], depends_on: Dependency | None = None) -> Job:
        """RQ's job for a lab job, not in the queue yet (JSON serializer, the planned retries, the timeout)."""
        task, kwargs = job["task"], job["params"]
        queue = lab_queue(conn, job.get("queue"))
        lane = fairness.queue_for(job["meta"])
        meta = job["meta"] if lane == queue.name else {**job["meta"], "lane": lane}
        return queue.create_job(
            job["func"],
            kwargs=kwargs,
            job_id=job["id"],
            retry=to_rq(job["retry_plan"]),
            timeout=job_timeout(job["timeout"]),
            result_ttl=settings().result_ttl,
            failure_ttl=settings().result_ttl,
            meta=meta,
            description=f"{task}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"[:200],
            depends_on=depends_on,
        )

    def _send(self, conn: Any, job: dict[str, Any], rq_job: Job | None = None, depends_on: Dependency | None = None) -> None:
        """``enqueued``, then the job into RQ's queue (or RQ's deferred registry, when it waits for others)."""
        job_id, task = job["id"], job["task"]
        status = "deferred" if depends_on is not None else "queued"
        events.emit(conn, job_id, "enqueued", "pending", task=task, rq_status=status, attempt=0, **job["data"])
        try:
            rq_job = rq_job or self._rq_job(conn, job, depends_on)
            lane = rq_job.meta.get("lane")
            if lane:
                fairness.register(conn, lane, rq_job.origin)  # before the job goes in: workers serve it from now on
            lab_queue(conn, rq_job.origin, lane=lane).enqueue_job(rq_job)
        except Exception as exc:
            events.emit(conn, job_id, "failed", "failed", task=task, reason="enqueue_error", error=str(exc))
            raise

    def submit(self, conn: Any, job: dict[str, Any]) -> None:
        self._send(conn, job)

    def submit_then(self, conn: Any, header: list[dict[str, Any]], body: dict[str, Any]) -> None:
        """RQ's own tool: ``body`` depends on every header job, ``Dependency(jobs=[...], allow_failure=True)``.

        RQ keeps the body ``deferred`` (its ``DeferredJobRegistry``) and enqueues it when the last header job
        ends, finished or failed (``allow_failure``: a broken PDF does not keep the summary from running).
        The header jobs are saved first and queued only after the body: RQ sets up a dependency in a
        transaction that WATCHes every job it depends on, and with workers already changing them it would be
        retried until nearly the whole batch had run.
        """
        saved = []
        for job in header:
            rq_job = self._rq_job(conn, job)
            rq_job.origin = lab_queue(conn, job.get("queue")).name
            rq_job.save()
            saved.append(rq_job)
        self._send(conn, body, depends_on=Dependency(jobs=saved, allow_failure=True))
        for job, rq_job in zip(header, saved, strict=True):
            self._send(conn, job, rq_job)

    def cancel(self, conn: Any, job_id: str) -> str | None:
        """A pending job is cancelled in RQ; a running one on a forking worker gets RQ's stop-job command.

        On every worker kind the cancel flag makes the job's next ``progress()`` raise.
        """
        try:
            job = fetch_job(conn, job_id)
        except NoSuchJobError:
            return None
        status = job.get_status().value
        if is_terminal(state_of(status)):
            return state_of(status)
        conn.set(keys.cancel_flag(job_id), "1", ex=settings().result_ttl)
        task = job.meta.get("task", "")
        if status in PENDING_STATUSES:
            with contextlib.suppress(InvalidJobOperation):
                job.cancel()
            if job.meta.get("lane"):  # RQ took it out of its origin's list, not the one it waits in
                conn.lrem(lab_queue(conn, job.meta["lane"]).key, 0, job_id)
            if job.get_status().value == "canceled":
                events.emit(
                    conn, job_id, "cancelled", "failed", task=task, rq_status="canceled",
                    attempt=int(job.meta.get("attempt", 1)) - 1, reason="cancelled",
                    message="cancelled before a worker picked it up", **events.tags(job.meta),
                )  # fmt: skip
                return "failed"
        if job.get_status().value == "started" and _worker_kind(conn, job.worker_name) in {"fork", "spawn"}:
            with contextlib.suppress(InvalidJobOperation, NoSuchJobError):
                send_stop_job_command(conn, job_id, serializer=SERIALIZER)
        return state_of(job.get_status().value)

    def record(self, conn: Any, job_id: str) -> dict[str, Any] | None:
        try:
            job: Job = fetch_job(conn, job_id)
        except NoSuchJobError:
            return None
        status = job.get_status(refresh=False)
        rq_status = status.value if status else ""
        return {
            "status": rq_status,
            "meta": job.meta,
            "params": job.kwargs,
            "result": job.return_value() if rq_status == JobStatus.FINISHED.value else None,
        }

    def update_meta(self, conn: Any, job_id: str, **fields: Any) -> None:
        try:
            job = fetch_job(conn, job_id)
        except NoSuchJobError:
            return
        job.meta.update(fields)
        job.save_meta()

    def held(self, conn: Any) -> list[str]:
        queue = lab_queue(conn)
        ids = [job_id for name in fairness.all_queues(conn) for job_id in lab_queue(conn, name).get_job_ids()]
        for registry in (queue.scheduled_job_registry, queue.started_job_registry, queue.deferred_job_registry):
            ids += registry.get_job_ids()
        return list(dict.fromkeys(ids))

    def backlog(self, conn: Any, job_id: str) -> dict[str, Any] | None:
        try:
            queue = lab_queue(conn, fetch_job(conn, job_id).origin)
        except NoSuchJobError:
            return None
        listeners = Worker.all(queue=queue)  # drops registered workers whose key has expired (dead ones)
        return {"queue": queue.name, "ahead": queue.get_job_position(job_id), "workers": len(listeners)}

    def worker_command(self, kind: str | None = None, name: str | None = None) -> list[str]:
        args = [sys.executable, "-m", "labs", "worker", "--engine", self.name]
        if kind:
            args.append(f"--{kind}")
        if name:
            args += ["--name", name]
        return args
