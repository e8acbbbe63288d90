"""What is Celery's own in the lab: its time limits, its acknowledgements, its refusal of unknown tasks, its result API.

Real Celery worker processes (prefork pool, one child) on both brokers; every assertion is about recorded
sequences of events and states, never about durations.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from labs import dlq, events, jobs
from labs.engines.celery import CeleryEngine
from labs.session import LabSession


@pytest.fixture
def celery_lab(broker: str) -> Iterator[LabSession]:
    session = LabSession(workers=1, engine="celery").start()
    yield session
    session.stop()


def kinds(conn, job_id: str) -> list[str]:
    return [e.event for e in events.job_events(conn, job_id) if e.event != "progress"]


def wait_event(conn, job_id: str, event: str, timeout: float = 30) -> list[events.Event]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = events.job_events(conn, job_id)
        if any(e.event == event for e in history):
            return history
        time.sleep(0.05)
    raise AssertionError(f"no {event!r} event for {job_id}: {[e.event for e in history]}")


def test_soft_time_limit_reaches_the_job_and_time_limit_kills_it(celery_lab: LabSession, monkeypatch) -> None:
    """soft_time_limit: the job sees SoftTimeLimitExceeded (and could clean up); time_limit alone: the child is killed."""
    soft = celery_lab.submit("slow_task", {"steps": 200, "step_seconds": 1}, timeout=10)
    monkeypatch.setenv("LAB_CELERY_SOFT_TIME_LIMIT", "0")  # the next job carries the hard limit only
    hard = celery_lab.submit("slow_task", {"steps": 200, "step_seconds": 1}, timeout=10)
    for job_id, error in ((soft, "SoftTimeLimitExceeded"), (hard, "TimeLimitExceeded")):
        history = wait_event(celery_lab.conn, job_id, "dead_lettered")
        assert kinds(celery_lab.conn, job_id) == ["enqueued", "started", "timed_out", "failed", "dead_lettered"]
        assert history[-1].data["reason"] == "timeout" and history[-1].data["error"].startswith(error)
    # the pool replaced the killed child: the worker goes on serving
    assert celery_lab.wait(celery_lab.submit("noop", {"value": 1})).state == "completed"


@pytest.mark.parametrize(("acks_late", "outcome"), [("1", "completed"), ("0", "failed")])
def test_a_killed_pool_child(broker: str, acks_late: str, outcome: str) -> None:
    """acks_late + reject_on_worker_lost: the message goes back at once and runs again; Celery's defaults: lost."""
    with LabSession(workers=1, engine="celery", env={"LAB_CELERY_ACKS_LATE": acks_late}) as lab:
        # a time limit far away (30 s), so that only the killed child decides the outcome
        job_id = lab.submit("slow_task", {"steps": 30, "step_seconds": 1}, timeout=600)
        history = wait_event(lab.conn, job_id, "progress")
        child = next(e for e in history if e.event == "started").data["pid"]
        os.kill(child, signal.SIGKILL)
        result = lab.wait(job_id, timeout=30)
        if outcome == "failed":
            history = wait_event(lab.conn, job_id, "dead_lettered")
        assert result.state == outcome
        if outcome == "completed":
            assert kinds(lab.conn, job_id) == ["enqueued", "started", "abandoned", "started", "completed"]
            assert result.attempts == 2
        else:
            assert kinds(lab.conn, job_id) == ["enqueued", "started", "abandoned", "failed", "dead_lettered"]
            assert history[-1].data["reason"] == "lost" and "WorkerLostError" in history[-1].data["error"]
            assert [entry["id"] for entry in dlq.list_entries(lab.conn)] == [job_id]
        deadline = time.monotonic() + 5  # the worker clears its record just after the verdict
        while lab.conn.hlen("lab:celery:running") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lab.conn.hlen("lab:celery:running") == 0  # nothing left "running"


def test_the_worker_refuses_a_function_outside_the_catalogue(celery_lab: LabSession) -> None:
    app = CeleryEngine().app(celery_lab.conn)
    sent = app.send_task("os.system", kwargs={"command": "touch /tmp/owned"})  # written straight to the broker
    history = wait_event(celery_lab.conn, sent.id, "dead_lettered")
    assert kinds(celery_lab.conn, sent.id) == ["enqueued", "failed", "dead_lettered"]
    assert history[-1].data["reason"] == "permanent" and "not in the lab's task catalogue" in history[-1].data["error"]
    assert sent.id in [entry["id"] for entry in dlq.list_entries(celery_lab.conn)]
    assert celery_lab.wait(celery_lab.submit("noop", {"value": 1})).state == "completed"  # the worker goes on


def test_the_seeds_result_api_reads_the_same_job(celery_lab: LabSession) -> None:
    """类比1 and 5: ``result.id`` / ``result.status``, and ``update_state(state='PROGRESS', meta=...)`` from progress()."""
    app = CeleryEngine().app(celery_lab.conn)
    job_id = celery_lab.submit("slow_task", {"steps": 400, "step_seconds": 1})
    wait_event(celery_lab.conn, job_id, "progress")
    result = app.AsyncResult(job_id)
    deadline = time.monotonic() + 10
    while result.status != "PROGRESS" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert result.status == "PROGRESS" and result.info["total"] == 400 and 0 < result.info["percent"] < 100
    jobs.cancel(celery_lab.conn, job_id)
    assert celery_lab.wait(job_id).state == "failed"
    done = celery_lab.submit("send_email", {"to": "seed@example.com"})
    assert celery_lab.wait(done).state == "completed"
    assert app.AsyncResult(done).status == "SUCCESS" and app.AsyncResult(done).result["to"] == "seed@example.com"
    assert jobs.job_view(celery_lab.conn, done)["result"] == app.AsyncResult(done).result


def test_sending_a_chord_leaves_the_sender_subscribed_to_nothing(celery_lab: LabSession) -> None:
    """Celery's chord would subscribe its sender to each header task's result channel, never read (see LabRedisBackend)."""
    header = [jobs.prepare("noop", {"value": i}, engine="celery") for i in range(3)]
    body = jobs.prepare("noop", {"value": 9}, engine="celery")
    jobs.submit_then(celery_lab.conn, header, body, engine="celery")
    assert celery_lab.wait(body["id"]).state == "completed"
    consumer = CeleryEngine().app(celery_lab.conn).backend.result_consumer
    assert not consumer.subscribed_to
    # a student's own result.get() still subscribes and returns, as Celery's does
    app = CeleryEngine().app(celery_lab.conn)
    assert app.AsyncResult(header[0]["id"]).get(timeout=30) == 0
