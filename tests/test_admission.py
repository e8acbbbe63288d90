"""The admission script itself: the token bucket refills on the given clock, the cap forgets finished jobs."""

from __future__ import annotations

import pytest
import redis

from labs import admission, keys
from labs.admission import Limits, Refused, Subject

ALICE = Subject("student", "alice")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def refused(conn: redis.Redis, limits: Limits, clock: Clock, n: int = 1) -> Refused:
    with pytest.raises(Refused) as caught:
        admission.check(conn, ALICE, n, limits=limits, clock=clock)
    return caught.value


def test_the_token_bucket_refills_at_its_rate_and_no_further(conn: redis.Redis) -> None:
    limits, clock = Limits(rate=2, period=10), Clock()
    for _ in range(2):
        admission.check(conn, ALICE, limits=limits, clock=clock)
    assert admission.tokens(conn, ALICE, limits=limits, now=clock.now) == 0
    assert refused(conn, limits, clock).retry_after == 5  # one token comes back every 10 / 2 s
    clock.now += 2.5
    assert admission.tokens(conn, ALICE, limits=limits, now=clock.now) == pytest.approx(0.5)
    assert refused(conn, limits, clock).retry_after == 3  # 2.5 s still to go, rounded up
    clock.now += 2.5
    admission.check(conn, ALICE, limits=limits, clock=clock)
    assert refused(conn, limits, clock).limit == "rate"
    clock.now += 1000
    assert admission.tokens(conn, ALICE, limits=limits, now=clock.now) == 2  # full, not more
    admission.check(conn, ALICE, limits=limits, clock=clock)
    assert refused(conn, limits, clock, n=2).retry_after == 5  # a batch waits for all its tokens
    admission.check(conn, ALICE, limits=limits, clock=clock)
    assert [row["count"] for row in admission.refusals(conn)] == [4]


def test_the_cap_counts_placeholders_then_the_bound_jobs_until_they_end(conn: redis.Redis) -> None:
    limits, clock = Limits(active=2), Clock()
    ticket = admission.check(conn, ALICE, 2, limits=limits, clock=clock)
    assert refused(conn, limits, clock).limit == "active"  # the placeholders hold the places while jobs are submitted
    ticket.bind(["job-1", "job-2"])
    conn.hset(keys.JOB_STATES, mapping={"job-1": "running", "job-2": "pending"})
    assert "has 2 of 2" in str(refused(conn, limits, clock))
    conn.hset(keys.JOB_STATES, "job-1", "completed")
    admission.check(conn, ALICE, limits=limits, clock=clock).release()  # a submit that failed gives its place back
    ticket = admission.check(conn, ALICE, limits=limits, clock=clock)
    assert refused(conn, limits, clock).limit == "active"
    clock.now += admission.GRACE + 1  # never bound (the API process died mid-submit): it stops counting
    admission.check(conn, ALICE, limits=limits, clock=clock)
    assert sorted(conn.zrange(keys.admission_active(ALICE.key), 0, -1))[0] == b"job-2"


def test_the_depth_counts_every_engines_queue() -> None:
    from labs.engines import arq, celery
    from labs.task_queue import lab_queue

    lists, zsets = admission.queue_keys()
    assert lists == [lab_queue(redis.Redis()).key, celery.queue()] and zsets == [arq.queue()]


def test_a_subject_only_in_classroom_mode_unless_on(monkeypatch: pytest.MonkeyPatch) -> None:
    assert admission.subject_for("alice") is None  # an open lab: only the depth is checked
    assert admission.limits_for(None) == Limits(depth=10_000)
    monkeypatch.setenv("LAB_INSTRUCTOR_TOKEN", "secret")
    assert admission.subject_for("alice") == ALICE
    assert admission.subject_for(None, instructor=True) is None
    monkeypatch.setenv("LAB_ADMISSION", "off")
    assert admission.limits_for(ALICE) == Limits() and not Limits().any
    monkeypatch.delenv("LAB_INSTRUCTOR_TOKEN")
    monkeypatch.setenv("LAB_ADMISSION", "on")
    assert str(admission.subject_for(None, address="10.0.0.7")) == "client 10.0.0.7"
