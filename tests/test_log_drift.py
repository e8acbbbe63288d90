"""A log that cannot drift from RQ (issue 18): a worker killed between RQ's write and the log's, on both brokers.

``LAB_FAULT`` makes an RQ worker SIGKILL itself right after RQ's write that ends an attempt. The lab's events
ride in that write, so RQ and the log agree; with the ``drift_`` faults they are kept out of it (as before),
and the next worker's maintenance finds the drift and appends what the log missed, marked ``reconciled``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

import pytest
import redis
from rq.job import Job
from rq.utils import now, utcformat

from labs import dlq, events, jobs, worker
from labs.session import LabSession
from labs.task_queue import fetch_job
from labs.testing.waiting import wait_until

POISON = {"data": {"poison": True}}


def names(conn: redis.Redis, job_id: str) -> list[str]:
    return [e.event for e in events.job_events(conn, job_id) if e.event != "progress"]


def killed_at_fault(lab: LabSession, job_id: str) -> None:
    """Wait for the lab's one worker to kill itself at its fault point (SIGKILL, as a crash would)."""
    [proc] = lab.procs.values()
    assert proc.wait(timeout=60) == -9
    assert not any(e.event == "abandoned" for e in events.job_events(lab.conn, job_id))


@pytest.mark.parametrize("kind", ["fork", "simple"])
def test_killed_right_after_rqs_finish_rq_and_the_log_agree(broker: str, kind: str) -> None:
    with LabSession(workers=1, kind=kind, env={"LAB_FAULT": "after_rq_finish"}) as lab:
        job_id = lab.submit("noop", {"value": 1})
        killed_at_fault(lab, job_id)
        assert fetch_job(lab.conn, job_id).get_status().value == "finished"
        assert names(lab.conn, job_id) == ["enqueued", "started", "completed"]
        assert events.current_state(lab.conn, job_id) == "completed"
        assert not any(e.data.get("reconciled") for e in events.job_events(lab.conn, job_id))


def test_killed_right_after_rqs_failure_rq_and_the_log_agree(broker: str) -> None:
    with LabSession(workers=1, kind="fork", env={"LAB_FAULT": "after_rq_fail"}) as lab:
        job_id = lab.submit("risky_task", POISON, retry={"max_retries": 0})
        killed_at_fault(lab, job_id)
        assert fetch_job(lab.conn, job_id).get_status().value == "failed"
        assert names(lab.conn, job_id) == ["enqueued", "started", "failed", "dead_lettered"]
        assert [entry["id"] for entry in dlq.list_entries(lab.conn)] == [job_id]


def test_killed_right_after_rq_booked_a_retry_the_retry_is_in_the_log_and_runs(broker: str) -> None:
    with LabSession(workers=1, kind="simple", env={"LAB_FAULT": "after_rq_fail"}) as lab:
        job_id = lab.submit("send_email", {"fail_first": 1}, retry={"max_retries": 1, "base": 0.2})
        killed_at_fault(lab, job_id)
        assert fetch_job(lab.conn, job_id).get_status().value in {"scheduled", "queued"}
        assert names(lab.conn, job_id) == ["enqueued", "started", "retry_scheduled"]
        lab.env = {}
        lab.add_worker()
        assert lab.wait(job_id, timeout=60).state == "completed"
        assert names(lab.conn, job_id) == ["enqueued", "started", "retry_scheduled", "started", "completed"]


@pytest.mark.parametrize(
    ("fault", "task", "params", "rq_status", "repaired"),
    [
        ("drift_after_rq_finish", "noop", {"value": 1}, "finished", ["completed"]),
        ("drift_after_rq_fail", "risky_task", POISON, "failed", ["failed", "dead_lettered"]),
    ],
)
def test_a_forced_drift_is_reconciled_by_maintenance(
    broker: str, fault: str, task: str, params: dict, rq_status: str, repaired: list[str]
) -> None:
    with LabSession(workers=1, kind="fork", env={"LAB_FAULT": fault}) as lab:
        job_id = lab.submit(task, params, retry={"max_retries": 0})
        killed_at_fault(lab, job_id)
        # the drift: RQ ended the attempt (and dropped it from its started registry), the log did not hear
        assert fetch_job(lab.conn, job_id).get_status().value == rq_status
        assert events.current_state(lab.conn, job_id) == "running"
        lab.env = {}
        fixer = lab.add_worker()
        wait_until(lambda: repaired[-1] in names(lab.conn, job_id), timeout=60, what="the drift reconciled")
        history = events.job_events(lab.conn, job_id)
        events.replay(history)  # a legal life under the state machine
        assert [e.event for e in history] == ["enqueued", "started", *repaired]
        for event in history[2:]:
            assert event.data["reconciled"] is True and event.data["reason"] == "reconciled"
            assert f"RQ says {rq_status}" in event.data["drift"]
            assert event.worker == fixer and event.rq_status == rq_status
        assert not any(e.data.get("reconciled") for e in history[:2])
        assert events.current_state(lab.conn, job_id) == ("completed" if rq_status == "finished" else "failed")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _drifted_by_hand(conn: redis.Redis, owner: str, pid: int) -> str:
    """A job RQ says finished (by its worker ``owner``, process ``pid`` on this host) while the log says running."""
    job_id = jobs.submit(conn, "noop", {"value": 1})
    events.emit(conn, job_id, "started", "running", task="noop", attempt=1, worker=owner)
    conn.hset(Job.key_for(job_id), mapping={"status": "finished", "worker_name": owner, "ended_at": utcformat(now())})
    conn.hset(f"rq:worker:{owner}", mapping={"hostname": socket.gethostname(), "pid": pid})
    return job_id


def test_reconcile_stands_back_for_a_live_worker_within_the_grace(conn: redis.Redis) -> None:
    job_id = _drifted_by_hand(conn, "busy", os.getpid())
    assert not worker.reconcile_job(conn, job_id, "fixer", grace=3600)  # alive and recent: its own event may be on the way
    assert names(conn, job_id) == ["enqueued", "started"]
    assert worker.reconcile_job(conn, job_id, "fixer", grace=0)  # alive but silent past the grace
    assert names(conn, job_id) == ["enqueued", "started", "completed"]
    assert not worker.reconcile_job(conn, job_id, "fixer", grace=0)  # nothing left to repair


def test_reconcile_repairs_a_dead_workers_jobs_at_once_slice_by_slice(conn: redis.Redis) -> None:
    ids = [_drifted_by_hand(conn, "dead", _dead_pid()) for _ in range(3)]
    repaired: list[str] = []
    for _ in range(10):  # a pass looks at a slice of lab:states; the cursor carries on
        repaired += worker.reconcile_log(conn, "fixer", batch=1)
    assert sorted(repaired) == sorted(ids)
    for job_id in ids:
        assert names(conn, job_id) == ["enqueued", "started", "completed"]
        assert events.job_events(conn, job_id)[-1].data["reconciled"] is True


def test_reconcile_stands_back_when_the_log_moves_meanwhile(conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """The WATCH on the job's stream: the worker's own late append lands between the check and the repair."""
    job_id = _drifted_by_hand(conn, "late", _dead_pid())
    gone = worker.worker_gone

    def late_append(pipe: redis.Redis, name: str) -> bool:
        events.emit(conn, job_id, "completed", "completed", task="noop", attempt=1, worker=name, message="done")
        return gone(pipe, name)

    monkeypatch.setattr(worker, "worker_gone", late_append)
    assert not worker.reconcile_job(conn, job_id, "fixer", grace=0)
    history = events.job_events(conn, job_id)
    assert [e.event for e in history] == ["enqueued", "started", "completed"]
    assert history[-1].worker == "late" and not history[-1].data.get("reconciled")


def watch_appends(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The events appended on their own (:func:`events.emit`), not riding in another write."""
    appended: list[str] = []
    emit = events.emit

    def watched(conn: redis.Redis, job_id: str, event: str, state: str, **fields: Any) -> tuple[str, int]:
        appended.append(event)
        return emit(conn, job_id, event, state, **fields)

    monkeypatch.setattr(events, "emit", watched)
    return appended


def test_an_attempts_end_rides_in_rqs_write_with_no_append_of_its_own(conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """The end of an attempt costs no round trip of its own: no separate append, yet the log has it (in-process worker)."""
    appended = watch_appends(monkeypatch)
    done = jobs.submit(conn, "noop", {"value": 1})
    dead = jobs.submit(conn, "risky_task", POISON, retry={"max_retries": 0})
    worker.run_burst(conn)
    assert names(conn, done) == ["enqueued", "started", "completed"]
    assert names(conn, dead) == ["enqueued", "started", "failed", "dead_lettered"]
    assert appended.count("started") == 2  # the worker's own appends: only started, never an attempt's end
    assert not {"completed", "failed", "dead_lettered"} & set(appended)


def test_leaving_the_dead_letter_queue_and_its_event_are_one_write(conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    redriven, discarded = (jobs.submit(conn, "risky_task", POISON, retry={"max_retries": 0}) for _ in range(2))
    worker.run_burst(conn)
    assert sorted(entry["id"] for entry in dlq.list_entries(conn)) == sorted([redriven, discarded])
    appended = watch_appends(monkeypatch)
    dlq.redrive(conn, redriven, {"data": {"poison": False}})
    dlq.discard(conn, discarded)
    assert dlq.list_entries(conn) == [] and dlq.count(conn) == 0
    assert names(conn, redriven)[-1] == "redriven" and names(conn, discarded)[-1] == "discarded"
    assert not {"redriven", "discarded"} & set(appended)  # each rode in the transaction that took it out of the queue
