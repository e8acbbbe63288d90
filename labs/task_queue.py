"""The lab's RQ queue, always with RQ's JSON serializer (never pickle)."""

from __future__ import annotations

from typing import Any

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.utils import as_text

from .settings import queue_name

SERIALIZER = JSONSerializer


class LabJob(Job):
    """RQ's job, with a job that depends on several others moved to its queue once, not twice.

    RQ checks a dependent job when each of its dependencies ends, WATCHing the dependencies and the ending
    job's own list of dependents, not the dependent itself. When the last two dependencies of a job end at the
    same moment on two workers, both see every dependency met and both enqueue it: it runs twice (a batch's
    summary, ``Dependency(jobs=[...])``, did so about one time in ten with two workers). Watching the dependent
    too, and taking it only while it is still ``deferred``, lets one worker move it and the other's
    transaction fail, retry and find it moved.
    """

    def dependencies_are_met(self, parent_job: Job | None = None, pipeline: Any = None, *args: Any, **kwargs: Any) -> bool:
        if pipeline is not None:
            pipeline.watch(self.key)
            status = pipeline.hget(self.key, "status")
            if status is not None and as_text(status) != JobStatus.DEFERRED.value:
                return False  # already moved to its queue by the other dependency's worker
        return super().dependencies_are_met(parent_job, pipeline, *args, **kwargs)


class LaneQueue(Queue):
    """The lab queue, putting the jobs it enqueues in another of its waiting lines (fair share, :mod:`labs.fairness`).

    The job's ``origin`` and registries stay the lab queue's; only the list its id waits in is ``lane``'s.
    """

    def __init__(self, *args: Any, lane: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lane_key = self.redis_queue_namespace_prefix + lane

    def push_job_id(self, job_id: str, pipeline: Any = None, at_front: bool = False) -> None:
        connection = pipeline if pipeline is not None else self.connection
        (connection.lpush if at_front else connection.rpush)(self.lane_key, job_id)


def lab_queue(conn: redis.Redis, name: str | None = None, lane: str | None = None) -> Queue:
    """The queue every lab job goes through (the seed's 分拣中心); with ``lane``, enqueueing into that waiting line."""
    name = name or queue_name()
    if lane and lane != name:
        return LaneQueue(name, connection=conn, serializer=SERIALIZER, job_class=LabJob, lane=lane)
    return Queue(name, connection=conn, serializer=SERIALIZER, job_class=LabJob)


def fetch_job(conn: redis.Redis, job_id: str) -> Job:
    """RQ's job record (raises ``rq.exceptions.NoSuchJobError``, also for an id RQ could never have made)."""
    try:
        return Job.fetch(job_id, connection=conn, serializer=SERIALIZER)
    except ValueError as exc:  # RQ refuses ids with characters such as ":" or "."
        raise NoSuchJobError(f"invalid job id {job_id!r}: {exc}") from None
