"""``LAB_RESULT_TTL`` bounds how long a finished job stays in the broker (and so the broker's memory)."""

from __future__ import annotations

import pytest

from labs import jobs
from labs.broker import in_process_connection
from labs.worker import run_burst


@pytest.mark.parametrize("ttl", [120, 7 * 24 * 3600])
def test_a_finished_jobs_record_expires_after_lab_result_ttl(monkeypatch: pytest.MonkeyPatch, ttl: int) -> None:
    monkeypatch.setenv("LAB_TIME_SCALE", "0")
    monkeypatch.setenv("LAB_RESULT_TTL", str(ttl))
    conn = in_process_connection()
    done = jobs.submit(conn, "noop", {})
    failed = jobs.submit(conn, "risky_task", {"data": {"poison": True}})
    run_burst(conn)
    for job_id in (done, failed):
        left = conn.ttl(f"rq:job:{job_id}")
        assert ttl - 60 < left <= ttl, (job_id, left)
