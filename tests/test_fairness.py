"""Fair share on RQ: per-student queues served round-robin, the instructor's priority queue first.

The order is read from the ``started`` events of the global event log, never from a clock.
"""

from __future__ import annotations

import pytest
import redis

from labs import admission, events, fairness, jobs
from labs.admission import Limits, Refused
from labs.session import LabSession
from labs.settings import queue_name
from labs.task_queue import lab_queue
from labs.testing.waiting import wait_until

SLOW = {"steps": 2, "step_seconds": 1.0}
"""Two demo seconds (a tenth of a second at the tests' time scale): long enough that the queues stay full."""


@pytest.fixture
def fair(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_FAIR_SHARE", "on")


def waiting(conn: redis.Redis, name: str) -> list[str]:
    return [job_id.decode() for job_id in conn.lrange(lab_queue(conn, name).key, 0, -1)]


def started(conn: redis.Redis) -> list[str]:
    return [e.job_id for e in events.read_global(conn, count=None) if e.event == "started"]


def test_queue_for_is_one_queue_in_an_open_lab_and_per_student_in_a_classroom(monkeypatch: pytest.MonkeyPatch) -> None:
    student, teacher, anyone = {"student": "alice"}, {"priority": True}, {"student": None}
    assert [fairness.queue_for(meta) for meta in (student, teacher, anyone)] == ["lab", "lab", "lab"]
    assert fairness.enabled() is False
    monkeypatch.setenv("LAB_INSTRUCTOR_TOKEN", "secret")  # classroom mode: auto turns fair share on
    assert [fairness.queue_for(meta) for meta in (student, teacher, anyone)] == ["lab:s:alice", "lab:priority", "lab"]
    monkeypatch.setenv("LAB_QUEUE", "room2")  # derived from the lab queue's name (one per session)
    assert fairness.queue_for(student) == "room2:s:alice" and fairness.queue_for(teacher) == "room2:priority"
    monkeypatch.setenv("LAB_FAIR_SHARE", "off")
    assert fairness.queue_for(student) == "room2"
    monkeypatch.delenv("LAB_INSTRUCTOR_TOKEN")
    monkeypatch.setenv("LAB_FAIR_SHARE", "on")  # on in an open lab too
    assert fairness.queue_for(student) == "room2:s:alice"


def test_queues_to_serve_put_priority_first_and_go_round_after_the_last_served(fair: None, conn: redis.Redis) -> None:
    assert fairness.queues_to_serve(conn) == ["lab:priority", "lab"]
    for name in ("lab:s:bob", "lab:s:alice", "lab:priority", "lab"):
        fairness.register(conn, name)
    assert fairness.student_queues(conn) == ["lab:s:alice", "lab:s:bob"]
    assert fairness.queues_to_serve(conn) == ["lab:priority", "lab", "lab:s:alice", "lab:s:bob"]
    assert fairness.queues_to_serve(conn, after="lab:s:alice") == ["lab:priority", "lab:s:bob", "lab", "lab:s:alice"]
    assert fairness.queues_to_serve(conn, after="lab:s:bob") == ["lab:priority", "lab", "lab:s:alice", "lab:s:bob"]
    assert fairness.all_queues(conn) == ["lab", "lab:priority", "lab:s:alice", "lab:s:bob"]


def test_fair_share_off_keeps_one_queue(conn: redis.Redis) -> None:
    job_id = jobs.submit(conn, "noop", student="alice")
    assert waiting(conn, queue_name()) == [job_id] and fairness.all_queues(conn) == ["lab", "lab:priority"]
    assert not fairness.in_use(conn)  # so a worker serves the lab queue alone, as before fair share


def test_a_students_job_waits_in_their_queue_and_cancelling_takes_it_out(fair: None, conn: redis.Redis) -> None:
    mine = jobs.submit(conn, "noop", student="alice")
    teacher = jobs.submit(conn, "noop", priority=True)
    assert waiting(conn, "lab:s:alice") == [mine] and waiting(conn, "lab:priority") == [teacher]
    assert waiting(conn, "lab") == [] and lab_queue(conn).fetch_job(mine).origin == "lab"  # registries stay the lab's
    assert set(jobs.engine_for("rq").held(conn)) == {mine, teacher}
    assert jobs.cancel(conn, mine) == "failed"
    assert waiting(conn, "lab:s:alice") == []


def test_the_queue_depth_counts_the_students_queues(fair: None, conn: redis.Redis) -> None:
    for student in ("alice", "bob"):
        jobs.submit(conn, "noop", student=student)
    with pytest.raises(Refused) as caught:
        admission.check(conn, None, limits=Limits(depth=2))
    assert caught.value.limit == "depth" and "hold 2 waiting jobs" in str(caught.value)


@pytest.mark.parametrize("kind", ["simple", "fork"])
def test_a_flood_does_not_delay_another_students_job_and_the_instructors_goes_first(
    fair: None, conn: redis.Redis, kind: str
) -> None:
    flood = [jobs.submit(conn, "slow_task", SLOW, student="alice") for _ in range(200)]
    bobs = jobs.submit(conn, "slow_task", SLOW, student="bob")
    teachers = jobs.submit(conn, "slow_task", SLOW, priority=True)
    with LabSession(workers=1, kind=kind, queue=queue_name()):
        first = wait_until(lambda: started(conn)[:3] if len(started(conn)) >= 3 else None, 60, what="three jobs started")
    # the priority queue first, then round-robin (the lab queue, empty; alice's; bob's): bob is not behind alice's 200
    assert first == [teachers, flood[0], bobs]


def test_a_student_who_joins_after_the_worker_started_is_served(fair: None, conn: redis.Redis) -> None:
    with LabSession(workers=1, kind="simple", queue=queue_name()) as lab:
        job_id = lab.submit("noop", student="carol")
        assert lab.wait(job_id, timeout=30).state == "completed"
    assert fairness.student_queues(conn) == ["lab:s:carol"]


def test_a_worker_without_fair_share_serves_the_students_queues_once_jobs_go_there(
    conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API decides: a worker started before classroom mode was on (or elsewhere, without the token) still serves."""
    with LabSession(workers=1, kind="simple", queue=queue_name()) as lab:
        assert lab.wait(lab.submit("noop"), timeout=30).state == "completed"  # an open lab: the lab queue alone
        monkeypatch.setenv("LAB_FAIR_SHARE", "on")  # this process (the API) only, not the worker
        mine, teachers = lab.submit("noop", student="dave"), lab.submit("noop", priority=True)
        assert [lab.wait(job_id, timeout=30).state for job_id in (mine, teachers)] == ["completed", "completed"]
    assert fairness.all_queues(conn) == ["lab", "lab:priority", "lab:s:dave"]


def test_celery_and_arq_keep_one_queue_whoever_submits(fair: None, conn: redis.Redis) -> None:
    """What the README and the engines' docstrings say: per-student queues are RQ's; Celery and ARQ have one queue each."""
    from labs.engines import arq, celery

    for student in ("alice", "bob", None):
        jobs.submit(conn, "noop", student=student, engine="celery", priority=student is None)
        jobs.submit(conn, "noop", student=student, engine="arq", priority=student is None)
    assert conn.llen(celery.queue()) == 3 and conn.zcard(arq.queue()) == 3
    assert fairness.student_queues(conn) == []


def test_on_arq_the_instructors_job_starts_before_the_students_queued_earlier(
    fair: None, conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_ARQ_MAX_JOBS", "1")  # one job at a time: the order ARQ takes them in is the order they start
    theirs = [jobs.submit(conn, "slow_task", SLOW, student=name, engine="arq") for name in ("alice", "alice", "bob")]
    teachers = [jobs.submit(conn, "slow_task", SLOW, priority=True, engine="arq") for _ in range(2)]
    with LabSession(workers=1, engine="arq", queue=queue_name()):
        first = wait_until(lambda: started(conn)[:3] if len(started(conn)) >= 3 else None, 60, what="three jobs started")
    # the instructor's first, then the students' (ARQ orders by the millisecond: jobs sent in the same one, by id)
    assert set(first[:2]) == set(teachers) and first[2] in theirs


def test_a_students_retry_and_their_batchs_summary_run_through_the_lab_queue(fair: None, conn: redis.Redis) -> None:
    """RQ puts a retried job and a released summary back in their origin, the lab queue: they still run, once."""
    from labs.scenarios import batches

    with LabSession(workers=1, kind="fork", queue=queue_name()) as lab:
        flaky = lab.submit("send_email", {"to": "a@example.com", "fail_first": 1}, retry={"max_retries": 1}, student="eve")
        batch_id = batches.create(conn, "demo", "noop", [{}, {}], then="summarize_batch", student="eve")
        summary = batches.status(conn, batch_id)["summary"]["id"]
        assert lab.wait(flaky).attempts == 2
        assert lab.wait(summary).state == "completed"
    assert [e.event for e in events.job_events(conn, summary)].count("started") == 1
    assert fairness.all_queues(conn) == ["lab", "lab:priority", "lab:s:eve"]


def test_a_sessions_own_queue_has_its_own_students_lines(fair: None, conn: redis.Redis) -> None:
    """Each lesson's session has its own queue; its students' lines are derived from it, not from the lab's."""
    with LabSession(workers=1, kind="simple") as lab:
        job_id = lab.submit("noop", student="zoe")
        assert lab.wait(job_id, timeout=30).state == "completed"
        assert fairness.student_queues(conn, lab.queue) == [f"{lab.queue}:s:zoe"]
    assert fairness.student_queues(conn) == []  # the lab's own queue has none
