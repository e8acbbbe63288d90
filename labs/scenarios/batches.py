"""A batch: many jobs sent together, followed as one (寄100个快递，一起查看物流).

A batch is a Redis hash (kind, task, engine, created, total, and the id of its
summary job if it has one) and a list of its job ids. Each job carries the
batch id in its meta, so every lifecycle event of the job has a ``batch`` field
and a client can follow the batch on the global stream. A batch runs on one
engine (``engine=``: ``rq``, ``celery`` or ``arq``), whichever channel follows it.

``then=`` adds one more job that runs once every job of the batch has ended,
completed *or* failed ("all files, then a summary"), with params ``batch`` and
``jobs``: on RQ through ``Dependency(jobs=[...], allow_failure=True)``, on
Celery as the body of a ``chord`` (:meth:`labs.engines.celery.CeleryEngine.submit_then`
says how a failed file still lets it run), on ARQ, which has neither, as a job
sent with the others that waits for the event log to say they have ended. It is
not one of the batch's jobs (it carries no ``batch`` tag, so ``/ws/batches/{id}``
and the totals are the files only); :func:`status` shows it under ``summary``.

A file cancelled before it ran: Celery and ARQ count it as ended, so the summary
runs and reports it; RQ treats a cancelled dependency as unmet even with
``allow_failure`` (``Job.dependencies_are_met``), so on RQ that batch's summary
stays ``deferred`` (pending) for good.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import redis

from .. import events, jobs, students
from ..errors import LabError
from ..keys import PREFIX

TTL = 7 * 24 * 3600


class UnknownBatch(LabError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown batch"


def batch_key(batch_id: str) -> str:
    return f"{PREFIX}:batch:{batch_id}"


def create(
    conn: redis.Redis,
    kind: str,
    task: str,
    params_list: list[dict[str, Any]],
    labels: list[str] | None = None,
    *,
    engine: str | None = None,
    then: str | None = None,
    **options: Any,
) -> str:
    """Submit one ``task`` job per params on ``engine``, all tagged with a new batch id; return the batch id.

    ``then``: a catalogue task run once every job has ended (params ``batch`` and ``jobs``), see the module's text.
    Every job is checked (an unknown engine, bad params) before the batch is recorded or anything is sent.
    """
    batch_id = f"b-{uuid.uuid4().hex[:12]}"
    labels = labels or [json.dumps(p, ensure_ascii=False)[:80] for p in params_list]
    student = options.pop("student", None)
    header = [jobs.prepare(task, params, batch=batch_id, student=student, engine=engine, **options) for params in params_list]
    ids = [job["id"] for job in header]
    body = jobs.prepare(then, {"batch": batch_id, "jobs": ids}, student=student, engine=engine) if then else None
    engine_name = header[0]["meta"]["engine"] if header else jobs.engine_for(engine).name
    record: dict[str, Any] = {"kind": kind, "task": task, "engine": engine_name, "created": time.time(), "total": len(ids)}
    if body is not None:
        record["summary"] = body["id"]
    with conn.pipeline(transaction=True) as pipe:  # the batch is whole before its first job can start
        pipe.hset(batch_key(batch_id), mapping=record)
        if ids:
            pipe.rpush(f"{batch_key(batch_id)}:jobs", *ids)
            pipe.hset(f"{batch_key(batch_id)}:labels", mapping=dict(zip(ids, labels, strict=True)))
        for key in (batch_key(batch_id), f"{batch_key(batch_id)}:jobs", f"{batch_key(batch_id)}:labels"):
            pipe.expire(key, TTL)
        pipe.execute()
    students.set_owner(conn, batch_id, student)
    if body is not None:
        jobs.submit_then(conn, header, body, student=student, engine=engine)
    else:
        for job in header:
            students.set_owner(conn, job["id"], student)
            jobs.engine_for(engine).submit(conn, job)
    return batch_id


def job_ids(conn: redis.Redis, batch_id: str) -> list[str]:
    ids = [i.decode() for i in conn.lrange(f"{batch_key(batch_id)}:jobs", 0, -1)]
    if not ids and not conn.exists(batch_key(batch_id)):
        raise UnknownBatch(f"no batch with id {batch_id!r}")
    return ids


def summary_ids(conn: redis.Redis, batch_id: str) -> list[str]:
    """The batch's summary job, if it has one (a list: to add to :func:`job_ids` when counting every job it sent)."""
    summary = conn.hget(batch_key(batch_id), "summary")
    return [summary.decode()] if summary else []


def status(conn: redis.Redis, batch_id: str) -> dict[str, Any]:
    """Whole-batch progress and each job's state, progress and error, from the event log."""
    ids = job_ids(conn, batch_id)
    meta = {k.decode(): v.decode() for k, v in conn.hgetall(batch_key(batch_id)).items()}
    labels = {k.decode(): v.decode() for k, v in conn.hgetall(f"{batch_key(batch_id)}:labels").items()}
    rows = []
    for job_id in ids:
        history = events.job_events(conn, job_id)
        last = history[-1] if history else None
        progress = next((e.progress for e in reversed(history) if e.progress), None)
        error = next((e.data.get("error") for e in reversed(history) if e.data.get("error")), None)
        rows.append(
            {
                "id": job_id,
                "label": labels.get(job_id, ""),
                "state": last.state if last else "unknown",
                "percent": (progress or {}).get("percent", 100.0 if last and last.state == "completed" else 0.0),
                "error": error if last and last.state == "failed" else None,
                "last_event_id": last.id if last else None,
            }
        )
    out = batch_summary(batch_id, meta, rows)
    if meta.get("summary"):
        out["summary"] = summary_of(conn, meta["summary"])
    return out


def summary_of(conn: redis.Redis, job_id: str) -> dict[str, Any]:
    """The batch's summary job: its id, task, state and, once it has ended, its result or error."""
    try:
        view = jobs.job_view(conn, job_id, with_events=False)
    except jobs.UnknownJob:
        return {"id": job_id, "task": "", "state": "unknown", "result": None, "error": None}
    return {"id": job_id, "task": view["task"], "state": view["state"], "result": view["result"], "error": view["error"]}


def batch_summary(batch_id: str, meta: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch totals from per-job rows (shared by :func:`status` and live pushers)."""
    total = len(rows)
    completed = sum(r["state"] == "completed" for r in rows)
    failed = sum(r["state"] == "failed" for r in rows)
    running = sum(r["state"] == "running" for r in rows)
    percent_sum = sum(100.0 if r["state"] in {"completed", "failed"} else float(r["percent"] or 0) for r in rows)
    return {
        "batch": batch_id,
        "kind": meta.get("kind", ""),
        "engine": meta.get("engine") or jobs.DEFAULT_ENGINE,
        "total": total,
        "completed": completed,
        "failed": failed,
        "running": running,
        "pending": total - completed - failed - running,
        "done": completed + failed,
        "percent": round(percent_sum / total, 1) if total else 100.0,
        "finished": total > 0 and completed + failed == total,
        "jobs": rows,
    }
