"""The lab core's behaviour on real worker processes, on both brokers and (where it is the lab's, not RQ's) every engine."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from labs import dlq, events, jobs
from labs.clock import scaled
from labs.launcher import engine_workers, kill_worker
from labs.retry import RetryPolicy
from labs.session import LabSession
from labs.task_queue import fetch_job, lab_queue
from labs.testing.waiting import wait_until

ENGINES = ["rq", "celery", "arq"]
FAST_REDELIVERY = {"LAB_CELERY_VISIBILITY_TIMEOUT": "60", "LAB_ARQ_JOB_TIMEOUT": "120"}
"""Celery: unacknowledged messages come back after 60 demo seconds (3 s at the tests' time scale), longer than any job here;
ARQ: a job may run 120 demo seconds (a 40-step job on a busy machine fits), and a dead worker's job runs again once its
in-progress key expires, a little later."""


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def engine_lab(broker: str, engine: str) -> Iterator[LabSession]:
    """One forking worker of each engine in turn (Celery: the prefork pool, one child; ARQ: its one kind of worker)."""
    session = LabSession(workers=1, kind="fork", engine=engine).start()
    yield session
    session.stop()


def names(job_id: str, conn) -> list[str]:
    return [e.event for e in events.job_events(conn, job_id) if e.event != "progress"]


def wait_event(conn, job_id: str, event: str, timeout: float = 30) -> list[events.Event]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = events.job_events(conn, job_id)
        if any(e.event == event for e in history):
            return history
        time.sleep(0.05)
    raise AssertionError(f"no {event!r} event for {job_id}: {[e.event for e in history]}")


def test_flaky_email_retries_with_planned_backoff(engine_lab: LabSession) -> None:
    lab = engine_lab
    policy = {"max_retries": 3, "base": 1, "factor": 2, "cap": 3}
    job_id = lab.submit("send_email", {"to": "a@example.com", "fail_first": 3}, retry=policy)
    result = lab.wait(job_id)
    assert result.state == "completed"
    assert result.attempts == 4
    # the waits the worker booked are the planned ones: 1, 2, 4 capped at 3
    assert result.retry_delays == RetryPolicy(**policy).delays() == [1, 2, 3]
    assert names(job_id, lab.conn) == [
        "enqueued", "started", "retry_scheduled", "started", "retry_scheduled",
        "started", "retry_scheduled", "started", "completed",
    ]  # fmt: skip
    assert jobs.job_view(lab.conn, job_id)["result"]["attempt"] == 4


def test_poison_task_is_dead_lettered_after_its_retries(engine_lab: LabSession) -> None:
    lab = engine_lab
    job_id = lab.submit("risky_task", {"data": {"poison": True}}, retry={"max_retries": 2, "base": 0.5})
    history = wait_event(lab.conn, job_id, "dead_lettered")
    assert [e.event for e in history] == [
        "enqueued", "started", "retry_scheduled", "started", "retry_scheduled", "started", "failed", "dead_lettered",
    ]  # fmt: skip
    [entry] = dlq.list_entries(lab.conn)
    assert entry["id"] == job_id and entry["attempts"] == 3 and entry["reason"] == "error"
    assert "poison" in entry["error"]
    assert [row["attempt"] for row in entry["history"]] == [1, 2, 3]


def test_permanent_error_skips_the_retries(engine_lab: LabSession) -> None:
    lab = engine_lab
    job_id = lab.submit("risky_task", {"data": {"poison": True}, "fail_fast": True})
    history = wait_event(lab.conn, job_id, "dead_lettered")
    assert [e.event for e in history] == ["enqueued", "started", "failed", "dead_lettered"]
    assert history[-1].data["reason"] == "permanent"


def test_redrive_with_corrected_input_is_a_new_linked_delivery(engine_lab: LabSession) -> None:
    lab = engine_lab
    job_id = lab.submit("risky_task", {"data": {"poison": True}}, retry={"max_retries": 1, "base": 0.2})
    before = wait_event(lab.conn, job_id, "dead_lettered")
    new_id = dlq.redrive(lab.conn, job_id, {"data": {"poison": False, "fixed": True}})
    assert new_id != job_id
    result = lab.wait(new_id)
    assert result.state == "completed" and result.redrive_of == job_id
    after = events.job_events(lab.conn, job_id)
    assert [e.to_dict() for e in after[: len(before)]] == [e.to_dict() for e in before]  # history unchanged
    assert after[-1].event == "redriven" and after[-1].data["new_id"] == new_id
    assert events.current_state(lab.conn, job_id) == "failed"
    assert dlq.list_entries(lab.conn) == []
    assert jobs.job_view(lab.conn, new_id)["result"] == {"processed": {"poison": False, "fixed": True}}


def test_slow_task_past_its_timeout_fails_with_reason_timeout(engine_lab: LabSession) -> None:
    lab = engine_lab
    job_id = lab.submit("slow_task", {"steps": 200, "step_seconds": 1}, timeout=10)  # 10 s * 0.05 -> RQ's 1 s
    history = wait_event(lab.conn, job_id, "dead_lettered")
    kinds = [e.event for e in history if e.event != "progress"]
    assert kinds == ["enqueued", "started", "timed_out", "failed", "dead_lettered"]
    assert history[-1].data["reason"] == "timeout"


def test_timeout_is_retried_per_policy(engine_lab: LabSession) -> None:
    lab = engine_lab
    job_id = lab.submit("slow_task", {"steps": 200, "step_seconds": 1}, timeout=10, retry={"max_retries": 1, "base": 1})
    history = wait_event(lab.conn, job_id, "dead_lettered", timeout=60)
    kinds = [e.event for e in history if e.event != "progress"]
    assert kinds == [
        "enqueued", "started", "timed_out", "retry_scheduled", "started", "timed_out", "failed", "dead_lettered",
    ]  # fmt: skip


def test_cancel_a_pending_job(broker: str, engine: str) -> None:
    with LabSession(workers=0, engine=engine) as lab:  # nobody picks it up
        job_id = lab.submit("slow_task", {"steps": 3})
        assert jobs.cancel(lab.conn, job_id) == "failed"
        assert names(job_id, lab.conn) == ["enqueued", "cancelled"]
        view = jobs.job_view(lab.conn, job_id)
        assert view["state"] == "failed" and view["reason"] == "cancelled"
        assert view["rq_status"] == {"rq": "canceled", "celery": "REVOKED", "arq": "aborting"}[engine]  # each engine's word
        lab.add_worker()
        time.sleep(1)
        assert names(job_id, lab.conn) == ["enqueued", "cancelled"]  # it never ran


@pytest.mark.parametrize(
    ("engine", "kind"),
    [("rq", "fork"), ("rq", "simple"), ("rq", "spawn"), ("celery", "fork"), ("celery", "simple"), ("arq", "async")],
)
def test_cancel_a_running_job(broker: str, engine: str, kind: str) -> None:
    with LabSession(workers=1, kind=kind, engine=engine) as lab:
        job_id = lab.submit("slow_task", {"steps": 2000, "step_seconds": 1})
        lab.wait(job_id, states={"running"})
        wait_event(lab.conn, job_id, "progress")
        jobs.cancel(lab.conn, job_id)
        result = lab.wait(job_id, timeout=20)
        assert result.state == "failed" and result.reason == "cancelled"
        assert names(job_id, lab.conn)[-1] == "cancelled"
        assert result.progress["done"] < 2000
        assert dlq.list_entries(lab.conn) == []  # a cancelled job is not a return
        # the worker is still serving
        assert lab.wait(lab.submit("noop", {"value": 1})).state == "completed"


@pytest.mark.parametrize(("engine", "kind"), [("rq", "fork"), ("rq", "simple"), ("celery", "fork"), ("arq", "async")])
def test_worker_killed_mid_job_leaves_nothing_running(broker: str, engine: str, kind: str) -> None:
    """RQ: the registry clean-up finds the job; Celery (acks_late): the broker redelivers the unacknowledged message;
    ARQ: the job never left its queue, and runs again once the dead worker's in-progress key expires."""
    with LabSession(workers=2, kind=kind, engine=engine, env=FAST_REDELIVERY) as lab:
        job_id = lab.submit("slow_task", {"steps": 40, "step_seconds": 1}, timeout=600, retry={"max_retries": 1, "base": 0.2})
        lab.wait(job_id, states={"running"})
        victim = next(w for w in engine_workers(lab.conn, engine) if w["current_job"] == job_id)
        kill_worker(lab.conn, victim["name"], engine)
        result = lab.wait(job_id, timeout=60)
        history = events.job_events(lab.conn, job_id)
        kinds = [e.event for e in history if e.event != "progress"]
        assert "abandoned" in kinds
        abandoned = next(e for e in history if e.event == "abandoned")
        assert abandoned.data["reason"] == "abandoned"
        # redelivered to the surviving worker and finished there
        assert result.state == "completed", kinds
        assert kinds[-2:] == ["started", "completed"]
        assert history[-1].worker != victim["name"]


@pytest.mark.parametrize("kind", ["fork", "simple"])
def test_late_heartbeat_of_a_live_worker_is_not_abandonment(broker: str, kind: str) -> None:
    """A busy machine can delay a heartbeat past the lab's short grace: the job must not run twice."""
    with LabSession(workers=2, kind=kind) as lab:
        job_id = lab.submit("slow_task", {"steps": 200, "step_seconds": 1}, retry={"max_retries": 2, "base": 0.2})
        lab.wait(job_id, states={"running"})
        registry = lab_queue(lab.conn).started_job_registry
        for _ in range(3):  # as if the heartbeat had stopped: expired in the registry, maintenance passes by
            for entry in lab.conn.zrange(registry.key, 0, -1):
                lab.conn.zadd(registry.key, {entry: 1}, xx=True)
            time.sleep(max(1.5, 2 * scaled(10)))
        result = lab.wait(job_id, timeout=60)
        assert result.state == "completed"
        assert names(job_id, lab.conn) == ["enqueued", "started", "completed"]


@pytest.mark.parametrize("engine", ["rq", "celery"])  # ARQ has no acknowledgement to lose: it always runs the job again
def test_killed_without_retries_is_dead_lettered(broker: str, engine: str) -> None:
    """RQ with no retries left, and Celery with its defaults (acknowledged on receipt): the job is lost, and says so."""
    with LabSession(workers=2, engine=engine, env={"LAB_CELERY_ACKS_LATE": "0"}) as lab:
        job_id = lab.submit("slow_task", {"steps": 40, "step_seconds": 1}, timeout=60)
        lab.wait(job_id, states={"running"})
        victim = next(w for w in engine_workers(lab.conn, engine) if w["current_job"] == job_id)
        kill_worker(lab.conn, victim["name"], engine)
        history = wait_event(lab.conn, job_id, "dead_lettered", timeout=60)
        assert [e.event for e in history if e.event != "progress"][-3:] == ["abandoned", "failed", "dead_lettered"]
        assert events.current_state(lab.conn, job_id) == "failed"
        assert history[-1].data["reason"] == {"rq": "abandoned", "celery": "lost"}[engine]
        # RQ files the job in its failed registry just after the handler's events
        [entry] = wait_until(lambda: dlq.list_entries(lab.conn), timeout=10, what="the dead letter listed")
        assert entry["id"] == job_id and entry["engine"] == engine


def test_a_job_under_its_old_dotted_path_still_runs(lab: LabSession) -> None:
    """Jobs a previous version left in Redis name ``labs.tasks.<name>``: the bodies moved, the job still runs."""
    job = lab_queue(lab.conn).enqueue(
        "labs.tasks.send_email", kwargs={"to": "old@example.com", "subject": "from before the move"}, meta={"task": "send_email"}
    )
    result = lab.wait(job.id)
    assert result.state == "completed"
    assert fetch_job(lab.conn, job.id).return_value()["to"] == "old@example.com"
    started = next(e for e in events.job_events(lab.conn, job.id) if e.event == "started")
    assert started.task == "send_email"
