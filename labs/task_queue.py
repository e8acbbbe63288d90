"""The lab's RQ queue, always with RQ's JSON serializer (never pickle)."""

from __future__ import annotations

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from .settings import queue_name

SERIALIZER = JSONSerializer


def lab_queue(conn: redis.Redis, name: str | None = None) -> Queue:
    """The queue every lab job goes through (the seed's 分拣中心)."""
    return Queue(name or queue_name(), connection=conn, serializer=SERIALIZER)


def fetch_job(conn: redis.Redis, job_id: str) -> Job:
    """RQ's job record (raises ``rq.exceptions.NoSuchJobError``, also for an id RQ could never have made)."""
    try:
        return Job.fetch(job_id, connection=conn, serializer=SERIALIZER)
    except ValueError as exc:  # RQ refuses ids with characters such as ":" or "."
        raise NoSuchJobError(f"invalid job id {job_id!r}: {exc}") from None
