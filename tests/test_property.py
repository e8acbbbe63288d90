"""Every recorded event sequence is valid under the state machine, whatever happens to the jobs."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labs import events, keys, states
from labs.broker import in_process_connection
from labs.jobs import cancel, submit
from labs.worker import run_burst

outcomes = st.one_of(
    st.builds(lambda n, r: ("send_email", {"fail_first": n}, {"max_retries": r, "base": 0}),
              st.integers(0, 4), st.integers(0, 3)),
    st.builds(lambda r, ff: ("risky_task", {"data": {"poison": True}, "fail_fast": ff}, {"max_retries": r, "base": 0}),
              st.integers(0, 3), st.booleans()),
    st.builds(lambda s: ("slow_task", {"steps": s, "step_seconds": 0}, None), st.integers(1, 4)),
    st.just(("noop", {"value": 1}, None)),
    st.just(("cancel-pending", {"steps": 2}, None)),
    st.just(("cancel-running", {"steps": 3, "step_seconds": 0}, None)),
)  # fmt: skip


@pytest.fixture(autouse=True)
def instant_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_TIME_SCALE", "0")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(outcomes, min_size=1, max_size=6))
def test_every_event_sequence_is_valid(jobs_to_run: list) -> None:
    conn = in_process_connection()
    ids = []
    for task, params, retry in jobs_to_run:
        if task == "cancel-pending":
            job_id = submit(conn, "slow_task", params)
            cancel(conn, job_id)
        elif task == "cancel-running":
            job_id = submit(conn, "slow_task", params)
            conn.set(keys.cancel_flag(job_id), "1")  # as if cancel() arrived while it ran
        else:
            job_id = submit(conn, task, params, retry=retry)
        ids.append((task, job_id, params, retry))
    for _ in range(6):  # retries with no wait are requeued at once
        run_burst(conn)
    for task, job_id, params, retry in ids:
        history = events.job_events(conn, job_id)
        kinds = [e.event for e in history]
        states.validate_sequence([e.state for e in history])
        assert kinds[0] == "enqueued" and [e.seq for e in history] == list(range(1, len(history) + 1))
        assert history[-1].terminal, kinds  # every job ended, none stuck
        verdicts = [k for k in kinds if k in {"completed", "failed", "cancelled"}]
        assert len(verdicts) == 1, kinds  # exactly one verdict
        started = kinds.count("started")
        if task == "send_email":
            retries = retry["max_retries"]
            expect_ok = params["fail_first"] <= retries
            assert verdicts == (["completed"] if expect_ok else ["failed"]), kinds
            assert started == min(params["fail_first"], retries) + 1
            assert kinds.count("retry_scheduled") == started - 1
        elif task == "risky_task":
            assert kinds[-2:] == ["failed", "dead_lettered"]
            assert started == (1 if params["fail_fast"] else retry["max_retries"] + 1)
        elif task.startswith("cancel"):
            assert verdicts == ["cancelled"] and history[-1].data["reason"] == "cancelled"
            assert started == (0 if task == "cancel-pending" else 1)
        else:
            assert verdicts == ["completed"]
