"""Pure pieces of the core: the state model, the retry policy, the catalogue, the event log."""

from __future__ import annotations

import random

import pytest
from rq.job import JobStatus

from labs import events, states
from labs.broker import in_process_connection
from labs.catalogue import CATALOGUE, get_spec
from labs.errors import InvalidParams, UnknownTask
from labs.jobs import submit
from labs.retry import RetryPolicy, plan, to_rq


def test_every_rq_status_maps_to_a_seed_state() -> None:
    for status in JobStatus:
        assert states.state_of(status) in {"pending", "running", "completed", "failed"}, status
    assert states.state_of("finished") == "completed"
    assert states.state_of("stopped") == "failed"
    assert states.state_of("a-status-from-rq-4") == states.UNKNOWN


def test_terminal_states_are_final() -> None:
    states.validate_sequence(["pending", "running", "pending", "running", "completed"])
    states.validate_sequence(["pending", "failed", "failed"])
    for bad in (["running"], ["pending", "completed"], ["pending", "running", "completed", "running"],
                ["pending", "running", "failed", "pending"]):  # fmt: skip
        with pytest.raises(states.InvalidTransition):
            states.validate_sequence(bad)


def test_backoff_is_exponential_and_capped() -> None:
    assert RetryPolicy(max_retries=5, base=1, factor=2, cap=10).delays() == [1, 2, 4, 8, 10]
    assert RetryPolicy(max_retries=0).delays() == []
    assert [row["at"] for row in plan(RetryPolicy(max_retries=3))] == [1, 3, 7]


def test_full_jitter_stays_under_the_exponential_curve() -> None:
    policy = RetryPolicy(max_retries=6, base=1, factor=2, cap=20, jitter=True)
    plain = RetryPolicy(max_retries=6, base=1, factor=2, cap=20).delays()
    rng = random.Random(7)
    samples = [policy.delays(rng) for _ in range(200)]
    for delays in samples:
        assert all(0 <= d <= top for d, top in zip(delays, plain, strict=True))
    assert len({tuple(s) for s in samples}) == 200  # really random


def test_rq_retry_gets_the_scaled_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_TIME_SCALE", "0.5")
    retry = to_rq([1, 2, 4])
    assert retry.max == 3 and retry.intervals == [0.5, 1.0, 2.0]
    assert to_rq([]) is None


def test_unknown_task_and_bad_params_are_refused_before_enqueue() -> None:
    conn = in_process_connection()
    with pytest.raises(UnknownTask, match="catalogue has: .*slow_task"):
        submit(conn, "os.system", {"command": "rm -rf /"})
    with pytest.raises(InvalidParams, match="steps"):
        submit(conn, "slow_task", {"steps": "many"})
    with pytest.raises(InvalidParams, match="Extra inputs"):
        submit(conn, "slow_task", {"steps": 1, "shell": "x"})
    with pytest.raises(InvalidParams, match="JSON object"):
        submit(conn, "slow_task", ["not", "an", "object"])  # type: ignore[arg-type]
    with pytest.raises(InvalidParams):
        submit(conn, "risky_task", {"data": {"when": object()}})  # not JSON
    with pytest.raises(InvalidParams, match="retry"):
        submit(conn, "send_email", {}, retry={"max_retries": -1})
    assert conn.keys("*") == []  # nothing was enqueued, nothing was logged


def test_catalogue_entries_validate_their_defaults() -> None:
    for name, spec in CATALOGUE.items():
        assert get_spec(name) is spec
        assert spec.func.startswith("labs.tasks.")
        required = [n for n, f in spec.params.model_fields.items() if f.is_required()]
        if not required:
            spec.validate({})  # a task with no required parameter runs with its defaults
        else:
            with pytest.raises(InvalidParams, match=required[0]):
                spec.validate({})


def test_event_log_keeps_terminal_states_final() -> None:
    conn = in_process_connection()
    events.emit(conn, "j", "enqueued", "pending")
    events.emit(conn, "j", "started", "running")
    events.emit(conn, "j", "completed", "completed")
    assert events.emit(conn, "j", "cancelled", "failed") == ("", 0)  # a late cancel is dropped
    assert [e.event for e in events.job_events(conn, "j")] == ["enqueued", "started", "completed"]
    assert [e.seq for e in events.job_events(conn, "j")] == [1, 2, 3]
    [first, *_] = events.job_events(conn, "j")
    assert [e.id for e in events.read_global(conn)][0] == first.id  # same id in both streams
    assert events.state_counts(conn) == {"completed": 1}


def test_nan_and_strange_ids_are_refused_clearly() -> None:
    from labs.jobs import UnknownJob, cancel, job_view

    conn = in_process_connection()
    with pytest.raises(InvalidParams, match="plain JSON"):
        submit(conn, "noop", {"value": float("nan")})
    for bad in ("a:b", "../x", "a.b"):
        with pytest.raises(UnknownJob):
            job_view(conn, bad)
        with pytest.raises(UnknownJob):
            cancel(conn, bad)


def test_progress_lands_in_job_meta_and_in_the_event_log(monkeypatch: pytest.MonkeyPatch) -> None:
    from labs.jobs import job_view
    from labs.task_queue import fetch_job
    from labs.worker import run_burst

    monkeypatch.setenv("LAB_TIME_SCALE", "0")
    conn = in_process_connection()
    job_id = submit(conn, "slow_task", {"steps": 3})
    run_burst(conn)
    expected = {"done": 3, "total": 3, "percent": 100.0, "message": "step 3/3"}
    assert fetch_job(conn, job_id).meta["progress"] == expected  # RQ's job.meta, as the seed's update_state
    assert job_view(conn, job_id)["progress"] == expected
    assert [e.progress["done"] for e in events.job_events(conn, job_id) if e.event == "progress"] == [1, 2, 3]
