"""A batch: many jobs sent together, followed as one (寄100个快递，一起查看物流).

A batch is a Redis hash (kind, title, created) and a list of its job ids. Each
job carries the batch id in its RQ meta, so every lifecycle event of the job
has a ``batch`` field and a client can follow the batch on the global stream.
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
    conn: redis.Redis, kind: str, task: str, params_list: list[dict[str, Any]], labels: list[str] | None = None, **options: Any
) -> str:
    """Submit one ``task`` job per params, all tagged with a new batch id; return the batch id."""
    batch_id = f"b-{uuid.uuid4().hex[:12]}"
    labels = labels or [json.dumps(p, ensure_ascii=False)[:80] for p in params_list]
    conn.hset(batch_key(batch_id), mapping={"kind": kind, "task": task, "created": time.time(), "total": len(params_list)})
    conn.expire(batch_key(batch_id), TTL)
    students.set_owner(conn, batch_id, options.get("student"))
    ids = []
    for params, label in zip(params_list, labels, strict=True):
        job_id = jobs.submit(conn, task, params, batch=batch_id, **options)
        ids.append(job_id)
        conn.rpush(f"{batch_key(batch_id)}:jobs", job_id)
        conn.hset(f"{batch_key(batch_id)}:labels", job_id, label)
    conn.expire(f"{batch_key(batch_id)}:jobs", TTL)
    conn.expire(f"{batch_key(batch_id)}:labels", TTL)
    return batch_id


def job_ids(conn: redis.Redis, batch_id: str) -> list[str]:
    ids = [i.decode() for i in conn.lrange(f"{batch_key(batch_id)}:jobs", 0, -1)]
    if not ids and not conn.exists(batch_key(batch_id)):
        raise UnknownBatch(f"no batch with id {batch_id!r}")
    return ids


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
    return batch_summary(batch_id, meta, rows)


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
