"""The dead-letter queue (类比7: 退件处理中心 / the returns centre).

A job whose retries are exhausted (or whose error is permanent) gets a
``dead_lettered`` event with its reason and attempt history, and stays in its
engine's failed registry: RQ's ``FailedJobRegistry`` (one per queue: the lab's and each lesson's), or for an engine with
none of its own (Celery) the lab's ``lab:dlq:jobs``. Here a person (or the ``handle_failed_tasks`` sweeper) can
list and inspect what came back, redrive a parcel (optionally with a corrected
address), discard it, or purge the lot. A redrive is a *new* delivery with a
new tracking number, linked to the failed one, on the same engine (or another
one), so the original's history never changes. Cancelled jobs are not returns: they are not listed here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Any

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from . import events, keys, students
from .errors import LabError
from .jobs import engine_for, engine_of
from .task_queue import SERIALIZER, lab_queue

log = logging.getLogger(__name__)

DLQ_LOG_MAX = 1000


class NotInDeadLetterQueue(LabError, KeyError):
    """The job is not (or no longer) in the dead-letter queue."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not in the dead-letter queue"


def registry(conn: redis.Redis, queue: str | None = None) -> FailedJobRegistry:
    """RQ's failed registry of ``queue`` (default ``LAB_QUEUE``)."""
    return FailedJobRegistry(lab_queue(conn, queue).name, connection=conn, serializer=SERIALIZER)


def registries(conn: redis.Redis) -> list[FailedJobRegistry]:
    """The failed registries of every RQ queue the broker knows, ``LAB_QUEUE``'s first: a lesson's returns are
    returns too (each :class:`~labs.session.LabSession` has a queue of its own)."""
    names = [lab_queue(conn).name]
    names += sorted(name for q in Queue.all(connection=conn, serializer=SERIALIZER) if (name := q.name) not in names)
    return [registry(conn, name) for name in names]


def _attempts(history: list[events.Event]) -> list[dict[str, Any]]:
    """One row per delivery attempt: when it started, how it ended, the wait before the next."""
    rows: list[dict[str, Any]] = []
    for event in history:
        if event.event == "started":
            rows.append({"attempt": event.attempt, "worker": event.worker, "started": event.ts, "outcome": "running"})
        elif rows and event.event in {"retry_scheduled", "failed", "timed_out", "abandoned", "cancelled"}:
            row = rows[-1]
            if row["outcome"] == "running" or event.event == "retry_scheduled":
                row["ended"] = event.ts
                row["outcome"] = event.data.get("reason") or event.event
                row["error"] = event.data.get("error", row.get("error", ""))
                if event.event == "retry_scheduled":
                    row["next_delay"] = event.data.get("delay")
    return rows


def _entry(conn: redis.Redis, job_id: str) -> dict[str, Any] | None:
    history = events.job_events(conn, job_id)
    dead = [e for e in history if e.event == "dead_lettered"]
    if not dead:
        return None  # a cancelled job, or one RQ failed outside the lab
    engine = engine_of(history)
    record = engine_for(engine).record(conn, job_id)
    meta = record["meta"] if record else {}
    last = dead[-1]
    return {
        "id": job_id,
        "task": last.task or meta.get("task", ""),
        "params": record["params"] if record else {},
        "reason": last.data.get("reason", ""),
        "error": last.data.get("error", ""),
        "attempts": last.data.get("attempts", len(_attempts(history))),
        "failed_at": last.ts,
        "history": _attempts(history),
        "retry_policy": meta.get("retry_policy") if record else None,
        "timeout": meta.get("timeout") if record else None,
        "logged": bool(meta.get("dlq_logged_at")),
        "student": last.data.get("student") or meta.get("student"),
        "engine": engine,
    }


def _ids(conn: redis.Redis, limit: int | None = None) -> tuple[list[str], bool]:
    """Dead-lettered job ids, newest first within each source, and whether there is more than one source."""
    sources = [r.get_job_ids(0, limit - 1, desc=True) if limit else r.get_job_ids(desc=True) for r in registries(conn)]
    sources.append([raw.decode() for raw in conn.zrevrange(keys.DEAD_LETTERS, 0, (limit or 0) - 1)])
    return [i for ids in sources for i in ids], sum(bool(ids) for ids in sources) > 1


def count(conn: redis.Redis) -> int:
    """How many parcels :func:`list_entries` lists (without a limit): the ids in the failed registries whose history
    has a ``dead_lettered`` event.

    Not the failed registry's size: RQ also files there a job cancelled while it ran, which is no return
    (the list leaves it out), so the number on the page and the rows under it would disagree.
    """
    ids, _ = _ids(conn)
    dead = 0
    for start in range(0, len(ids), 200):
        pipe = conn.pipeline(transaction=False)
        for job_id in ids[start : start + 200]:
            pipe.xrange(keys.job_stream(job_id))
        for history in pipe.execute():
            dead += any(fields.get(b"event") == b"dead_lettered" for _, fields in history)
    return dead


def list_entries(conn: redis.Redis, limit: int = 1000, student: str | None = None) -> list[dict[str, Any]]:
    """What is in the returns centre, newest first (only ``student``'s parcels if given)."""
    if student is None:
        ids, mixed = _ids(conn, limit)
    else:
        every, mixed = _ids(conn)
        ids = [i for i, owner in zip(every, students.owners_of(conn, every), strict=True) if owner == student]
        ids = ids if mixed else ids[:limit]
    entries = [entry for job_id in ids if (entry := _entry(conn, job_id))]
    if mixed:  # more than one engine's registry: newest first across them
        entries = sorted(entries, key=lambda entry: -entry["failed_at"])[:limit]
    return entries


def _held(conn: redis.Redis, job_id: str) -> bool:
    with conn.pipeline(transaction=False) as pipe:
        for key in [keys.DEAD_LETTERS, *(r.key for r in registries(conn))]:
            pipe.zscore(key, job_id)
        return any(score is not None for score in pipe.execute())


def inspect(conn: redis.Redis, job_id: str) -> dict[str, Any]:
    """One returned parcel with its full attempt history and events."""
    entry = _entry(conn, job_id) if _held(conn, job_id) else None
    if entry is None:
        raise NotInDeadLetterQueue(f"job {job_id!r} is not in the dead-letter queue")
    entry["events"] = [e.to_dict() for e in events.job_events(conn, job_id)]
    return entry


def redrive(conn: redis.Redis, job_id: str, params: dict[str, Any] | None = None, engine: str | None = None) -> str:
    """Send a returned parcel again as a new delivery (optionally with corrected params).

    It goes to the same engine as the original unless ``engine`` names another.
    """
    from .jobs import submit

    entry = inspect(conn, job_id)
    new_id = submit(
        conn,
        entry["task"],
        params if params is not None else entry["params"],
        retry=entry["retry_policy"],
        timeout=entry["timeout"],
        redrive_of=job_id,
        student=students.owner_of(conn, job_id),  # a redelivery stays the student's parcel
        engine=engine or entry["engine"],
    )
    command, call = events.append_command(
        conn, job_id, "redriven", "failed", task=entry["task"], rq_status="failed",
        message=f"redriven as {new_id}", new_id=new_id, corrected=params is not None,
    )  # fmt: skip
    _leave_with(conn, job_id, command, call)
    return new_id


def _leave_with(conn: redis.Redis, job_id: str, command: tuple[Any, ...], call: dict[str, Any]) -> bool:
    """Take ``job_id`` out of the dead-letter queue and append its event in one transaction; True if it was the lab's.

    The queue and the log cannot disagree (no crash between the two), and it costs one round trip.
    """
    with conn.pipeline() as pipe:
        pipe.zrem(keys.DEAD_LETTERS, job_id)
        for failed in registries(conn):
            failed.remove(job_id, pipeline=pipe)
        pipe.execute_command(*command)
        replies = pipe.execute(raise_on_error=False)
    for reply in replies[:-1]:
        if isinstance(reply, Exception):
            raise reply
    events.append_reply(replies[-1], call, conn)  # NOSCRIPT (a flushed server): appended the ordinary way
    return bool(replies[0])


def discard(conn: redis.Redis, job_id: str) -> None:
    """Throw a returned parcel away (its event history stays)."""
    entry = inspect(conn, job_id)
    command, call = events.append_command(
        conn, job_id, "discarded", "failed", task=entry["task"], rq_status="failed", message="discarded"
    )
    if _leave_with(conn, job_id, command, call):
        engine_for(entry["engine"]).forget(conn, job_id)
    else:
        with contextlib.suppress(NoSuchJobError):  # RQ's record of it goes too
            Job.fetch(job_id, connection=conn, serializer=SERIALIZER).delete()


def purge(conn: redis.Redis) -> int:
    """Discard everything in the dead-letter queue; return how many."""
    entries = list_entries(conn, limit=100_000)
    for entry in entries:
        discard(conn, entry["id"])
    return len(entries)


def sweep(conn: redis.Redis, limit: int = 1000) -> dict[str, Any]:
    """The seed's ``handle_failed_tasks``: log every returned parcel not yet logged."""
    logged = []
    entries = list_entries(conn, limit=limit)
    for entry in entries:
        if entry["logged"]:
            continue
        line = {
            "id": entry["id"],
            "task": entry["task"],
            "reason": entry["reason"],
            "error": entry["error"],
            "attempts": entry["attempts"],
            "logged_at": time.time(),
        }
        log.warning("dead letter %s (%s): %s after %s attempts", entry["id"], entry["task"], entry["reason"],
                    entry["attempts"])  # fmt: skip
        conn.lpush(keys.DLQ_LOG, json.dumps(line))
        conn.ltrim(keys.DLQ_LOG, 0, DLQ_LOG_MAX - 1)
        engine_for(entry["engine"]).update_meta(conn, entry["id"], dlq_logged_at=line["logged_at"])
        logged.append(line)
    return {"seen": len(entries), "logged": len(logged), "entries": logged}


def failure_log(conn: redis.Redis, limit: int = 100) -> list[dict[str, Any]]:
    """What the sweeper logged, newest first."""
    return [json.loads(raw) for raw in conn.lrange(keys.DLQ_LOG, 0, limit - 1)]
