"""Fair share (一人一个窗口): one student's flood does not delay another student's job.

With fair share on (``LAB_FAIR_SHARE``: ``auto`` is on in classroom mode), the
RQ engine puts each job in a waiting line of the lab queue ``<LAB_QUEUE>``
chosen by :func:`queue_for`:

- the instructor's jobs in ``<LAB_QUEUE>:priority``, which workers always try first;
- a student's jobs in ``<LAB_QUEUE>:s:<student>``;
- everything else (and everything with fair share off) in ``<LAB_QUEUE>`` itself.

Workers serve :func:`queues_to_serve`: the priority queue, then the others
round-robin, starting after the one they took their last job from, so with
student A's 200 jobs waiting, student B's job is among the next ones started.
A student's queue (and the priority queue) is recorded in a Redis set
(:func:`labs.keys.fair_queues`) before its first job goes in, and workers read
that set before every dequeue, so students who join later are served without
restarting anything. A worker serves the queues whenever that set exists, its
own ``LAB_FAIR_SHARE`` aside (it looks at each maintenance pass): the API
decides, and a worker started before classroom mode was switched on (or on
another machine, without the token) still serves every student.

Only the waiting line is split: every job's RQ ``origin`` stays ``<LAB_QUEUE>``,
so its registries (started, scheduled, failed: the dead-letter queue), the
scheduler and the maintenance are the one queue's, as with fair share off. RQ
itself puts a job back in its origin, so a retry and a batch's summary wait in
``<LAB_QUEUE>``, the shared line, not in the student's. And a worker serving
several queues pops with ``BLPOP`` (RQ's way for several queues), not ``LMOVE``
into an intermediate queue: a worker killed in the instant between taking a
job and recording it as started loses that job (fair share off keeps RQ's
single-queue ``LMOVE``).

Celery and ARQ keep one queue each (see their modules): no per-student round-robin.
ARQ serves the instructor's jobs first all the same (:data:`PRIORITY_LEAD_MS`);
Celery's one queue is FIFO.
"""

from __future__ import annotations

from typing import Any

import redis

from .keys import fair_queues
from .settings import queue_name, settings
from .students import classroom_mode

PRIORITY = "priority"
STUDENT = "s"
PRIORITY_LEAD_MS = 10**12
"""ARQ: an instructor's job is scored this much (about 31 years) before its enqueue time in ARQ's queue, a sorted
set that workers take lowest score first: it goes before every student's job, and the instructor's keep their order
(to the millisecond, as ARQ's own: jobs scored alike go by id)."""


def enabled() -> bool:
    """Whether jobs go to per-student queues (``LAB_FAIR_SHARE``; ``auto``: in classroom mode)."""
    mode = settings().fair_share
    return mode == "on" or (mode == "auto" and classroom_mode())


def priority_queue(base: str | None = None) -> str:
    return f"{base or queue_name()}:{PRIORITY}"


def student_queue(student: str, base: str | None = None) -> str:
    return f"{base or queue_name()}:{STUDENT}:{student}"


def is_priority(meta: dict[str, Any]) -> bool:
    """Whether a job with ``meta`` goes before the students' (the instructor's, with fair share on)."""
    return bool(meta.get("priority")) and enabled()


def queue_for(meta: dict[str, Any]) -> str:
    """The RQ queue a job with ``meta`` (:func:`labs.jobs.prepare`'s) waits in: the one place that decides.

    The lines are those of the job's own lab queue (``meta["queue"]``: each lesson's session has its own).
    """
    base = meta.get("queue") or queue_name()
    if not enabled():
        return base
    if is_priority(meta):
        return priority_queue(base)
    if meta.get("student"):
        return student_queue(str(meta["student"]), base)
    return base


def register(conn: redis.Redis, name: str, base: str | None = None) -> None:
    """Record a student's or the priority queue of the lab queue ``base`` before its first job goes in."""
    base = base or queue_name()
    if name != base:
        conn.sadd(fair_queues(base), name)


def in_use(conn: redis.Redis, base: str | None = None) -> bool:
    """Whether jobs of the lab queue ``base`` were ever sent to its other queues (a worker then serves them all)."""
    return bool(conn.exists(fair_queues(base or queue_name())))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def student_queues(conn: redis.Redis, base: str | None = None) -> list[str]:
    """Every per-student queue of the lab queue that has had a job, sorted."""
    base = base or queue_name()
    return sorted(name for name in map(_text, conn.smembers(fair_queues(base))) if name != priority_queue(base))


def all_queues(conn: redis.Redis) -> list[str]:
    """Every RQ queue a lab job may wait in, fair share on or off (queue depth, jobs held)."""
    base = queue_name()
    return [base, priority_queue(base), *student_queues(conn, base)]


def queues_to_serve(conn: redis.Redis, after: str | None = None, base: str | None = None) -> list[str]:
    """The queues a fair-share worker of the lab queue ``base`` tries, in order: the priority queue, then the rest
    round-robin, starting after ``after``."""
    base = base or queue_name()
    ring = [base, *student_queues(conn, base)]
    if after in ring:
        start = ring.index(after) + 1
        ring = ring[start:] + ring[:start]
    return [priority_queue(base), *ring]
