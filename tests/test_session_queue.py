"""Each LabSession has a queue of its own: a lesson's jobs never wait behind someone else's.

The backlog is 5,000 jobs in the engine's queue of the lab (``LAB_QUEUE``, no worker on it), as an API
client once left them; a session's job still runs at once, and a job that cannot start says why.
"""

from __future__ import annotations

import json
import uuid

import pytest
import redis
from rq import Queue

from labs import jobs
from labs.engines import arq, celery
from labs.session import LabSession
from labs.settings import queue_name
from labs.task_queue import SERIALIZER, lab_queue

BACKLOG = 5000
ENGINES = ["rq", "celery", "arq"]


def fill_lab_queue(conn: redis.Redis, engine: str, n: int = BACKLOG) -> None:
    """``n`` jobs waiting in ``engine``'s queue of the lab, in one pipeline (RQ's own jobs; for Celery and ARQ,
    entries in their queue's shape that no worker reads: none listens there)."""
    with conn.pipeline(transaction=False) as pipe:
        if engine == "rq":
            data = [Queue.prepare_data("labs.tasks.demo.send_email", kwargs={"to": f"{i}@example.com"}) for i in range(n)]
            lab_queue(conn).enqueue_many(data, pipeline=pipe)
        elif engine == "celery":
            pipe.lpush(celery.queue(), *(json.dumps({"headers": {"id": uuid.uuid4().hex}}) for _ in range(n)))
        else:
            pipe.zadd(arq.queue(), {uuid.uuid4().hex: i for i in range(n)})
        pipe.execute()


def waiting_in_lab_queue(conn: redis.Redis, engine: str) -> int:
    if engine == "rq":
        return lab_queue(conn).count
    return conn.llen(celery.queue()) if engine == "celery" else conn.zcard(arq.queue())


@pytest.mark.parametrize("engine", ENGINES)
def test_a_session_job_completes_while_5000_jobs_wait_in_the_lab_queue(broker: str, engine: str) -> None:
    conn = redis.Redis.from_url(broker)
    fill_lab_queue(conn, engine)
    with LabSession(workers=1, engine=engine) as lab:
        assert lab.queue.startswith("lesson-")
        job_id = lab.submit("send_email", {"to": "student@example.com"})
        assert lab.wait(job_id, timeout=60).path == ["pending", "running", "completed"]
        assert [w["queue"] for w in lab.workers()] == [{"rq": lab.queue}.get(engine, f"{lab.queue}-{engine}")]
    assert waiting_in_lab_queue(conn, engine) == BACKLOG  # the backlog was neither run nor touched


def test_while_it_runs_the_process_sends_to_the_session_queue_and_stop_puts_it_back(broker: str) -> None:
    before = queue_name()
    with LabSession(workers=0) as outer:
        assert queue_name() == outer.queue
        with LabSession(workers=0) as inner:
            assert queue_name() == inner.queue
            job_id = jobs.submit(inner.conn, "send_email", {})  # e.g. the API in a thread of a lesson's kernel
            assert lab_queue(inner.conn, inner.queue).job_ids == [job_id]
        assert queue_name() == outer.queue
    assert queue_name() == before


def test_stop_deletes_the_session_queue_it_left_empty_and_keeps_one_with_a_job(broker: str) -> None:
    conn = redis.Redis.from_url(broker)
    with LabSession(workers=1) as lab:
        lab.wait(lab.submit("send_email", {}))
        used = lab_queue(conn, lab.queue)
        assert used.finished_job_registry.count == 1
    assert lab.queue not in {q.name for q in Queue.all(connection=conn, serializer=SERIALIZER)}
    assert not conn.exists(used.key, used.finished_job_registry.key)

    with LabSession(workers=0) as idle:
        waiting = idle.submit("send_email", {})
    assert lab_queue(conn, idle.queue).job_ids == [waiting]  # a job still waits: its queue stays


# --------------------------------------------------------------------------- a job that cannot start says why


def test_why_not_done_names_the_queue_the_jobs_ahead_and_the_workers() -> None:
    lab = {"queue": "lab"}
    assert jobs.why_not_done("j1", "pending", 60, {**lab, "ahead": 5000, "workers": 2}) == (
        "job j1 still pending after 60 s: 5,000 jobs ahead of it in queue 'lab' (2 workers listen on it)"
    )
    assert jobs.why_not_done("j1", "pending", 60, {"queue": "lesson-ab12", "ahead": 0, "workers": 0}) == (
        "job j1 still pending after 60 s: no worker listens on queue 'lesson-ab12'"
    )
    assert jobs.why_not_done("j1", "pending", 1.5, {**lab, "ahead": 1, "workers": 0}) == (
        "job j1 still pending after 1.5 s: no worker listens on queue 'lab' (1 job ahead of it in queue 'lab')"
    )
    assert jobs.why_not_done("j1", "pending", 60, {**lab, "ahead": None, "workers": 1}) == (
        "job j1 still pending after 60 s: not in queue 'lab' yet (a retry's wait?); 1 worker listens on it"
    )
    assert jobs.why_not_done("j1", "running", 60) == "job j1 still running after 60 s"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_job_that_cannot_start_says_how_many_are_ahead_and_that_nobody_listens(broker: str, engine: str) -> None:
    """Three jobs and no worker: the first is told nobody listens, the others also how many wait before them.

    (ARQ orders jobs enqueued in the same millisecond by id, so which one is last is the engine's to say.)
    """
    said = []
    with LabSession(workers=0, engine=engine) as lab:
        key = {"rq": lab.queue}.get(engine, f"{lab.queue}-{engine}")
        for job_id in [lab.submit("send_email", {}) for _ in range(3)]:
            with pytest.raises(TimeoutError) as error:
                lab.wait(job_id, timeout=0.2)
            head, _, why = str(error.value).partition(": ")
            assert head == f"job {job_id} still pending after 0.2 s"
            said.append(why)
    nobody = f"no worker listens on queue {key!r}"
    ahead = [f"{nobody} (1 job ahead of it in queue {key!r})", f"{nobody} (2 jobs ahead of it in queue {key!r})"]
    assert sorted(said) == [nobody, *ahead]
