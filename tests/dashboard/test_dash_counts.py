"""The numbers the dashboard shows agree with the rows it lists and with the API: no count from another source.

- the dead-letter page's count is the number of entries its list has (a job
  cancelled while it ran sits in RQ's failed registry too, but is no return);
- the board's per-state counts are what ``GET /tasks?state=`` gives for each state.
"""

from __future__ import annotations

import time
import warnings

import redis
from dashboard_helpers import run_until

from labs import dlq, events, jobs
from labs.api import create_app
from labs.dashboard import queries
from labs.dashboard.board import Board
from labs.session import LabSession

with warnings.catch_warnings():  # Starlette suggests httpx2 for its TestClient; the lab pins httpx
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


def wait_state(conn: redis.Redis, job_id: str, state: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while events.current_state(conn, job_id) != state:
        assert time.monotonic() < deadline, f"{job_id} never got {state} (is {events.current_state(conn, job_id)})"
        time.sleep(0.05)


def test_the_dead_letter_count_is_the_number_of_entries_listed(lab: LabSession) -> None:
    conn = lab.conn
    poison = [jobs.submit(conn, "risky_task", {"data": {"poison": True}, "fail_fast": True}) for _ in range(2)]
    cancelled = jobs.submit(conn, "slow_task", {"steps": 400, "step_seconds": 1})
    wait_state(conn, cancelled, "running")
    jobs.cancel(conn, cancelled)
    for job_id in [*poison, cancelled]:
        lab.wait(job_id)
    deadline = time.monotonic() + 30
    while cancelled not in dlq.registry(conn).get_job_ids():
        assert time.monotonic() < deadline, "RQ did not file the cancelled job as failed"
        time.sleep(0.05)
    assert dlq.registry(conn).count == 3  # RQ's shelf: the two returns and the job cancelled mid-run
    listed = [entry["id"] for entry in queries.dlq_entries(conn, 50)]
    assert sorted(listed) == sorted(poison)
    assert queries.dlq_total(conn) == len(listed) == dlq.count(conn) == 2
    dlq.redrive(conn, poison[0])
    dlq.discard(conn, poison[1])
    assert queries.dlq_total(conn) == len(queries.dlq_entries(conn, 50)) == 0


def test_the_labs_own_shelf_is_counted_as_it_is_listed(conn: redis.Redis) -> None:
    """Celery's returns are on the lab's own shelf (``lab:dlq:jobs``): counted with RQ's by the same rule as the list."""
    job_id = jobs.submit(conn, "risky_task", {"data": {"poison": True}, "fail_fast": True})
    run_until(conn, lambda: len(dlq.list_entries(conn)) == 1)
    conn.zadd("lab:dlq:jobs", {"not-a-return": time.time()})  # an id with no dead_lettered event: not listed, not counted
    assert [e["id"] for e in dlq.list_entries(conn)] == [job_id]
    assert dlq.count(conn) == 1


def test_the_boards_counts_per_state_are_what_the_api_lists_per_state(lab: LabSession) -> None:
    conn = lab.conn
    done = [jobs.submit(conn, "noop", {"value": n}) for n in range(3)]
    dead = jobs.submit(conn, "risky_task", {"data": {"poison": True}, "fail_fast": True})
    retrying = jobs.submit(conn, "send_email", {"fail_first": 100, "duration": 0}, retry={"max_retries": 3, "base": 3600})
    waiting = jobs.submit(conn, "noop", {"value": "no celery worker"}, engine="celery")  # pending: nobody takes it
    running = jobs.submit(conn, "slow_task", {"steps": 400, "step_seconds": 1})
    for job_id in [*done, dead]:
        lab.wait(job_id)
    wait_state(conn, running, "running")
    wait_state(conn, retrying, "pending")
    deadline = time.monotonic() + 30
    while not any(e.event == "retry_scheduled" for e in events.job_events(conn, retrying)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cancelled = jobs.submit(conn, "noop", {"value": "cancelled"}, engine="celery")
    jobs.cancel(conn, cancelled)  # failed, reason cancelled, never ran
    board = Board()
    board.update(conn)
    columns = board.column_counts()
    assert columns["retrying"] == 1 and columns["dead_lettered"] == 1
    with TestClient(create_app()) as api:
        by_api = {
            state: api.get("/tasks", params={"state": state, "limit": 500}).json()["count"]
            for state in ("pending", "running", "completed", "failed")
        }
        listed = {
            state: {t["id"] for t in api.get("/tasks", params={"state": state, "limit": 500}).json()["tasks"]} for state in by_api
        }
    assert board.state_counts() == by_api == {"pending": 2, "running": 1, "completed": 3, "failed": 2}
    assert listed == {
        "pending": {retrying, waiting}, "running": {running}, "completed": set(done), "failed": {dead, cancelled},
    }  # fmt: skip
    # the six columns fold into the four states
    assert columns["pending"] + columns["retrying"] == by_api["pending"]
    assert columns["failed"] + columns["dead_lettered"] == by_api["failed"]
    assert (columns["running"], columns["completed"]) == (by_api["running"], by_api["completed"])
    jobs.cancel(conn, running)
    lab.wait(running)
    board.update(conn)
    with TestClient(create_app()) as api:
        assert board.state_counts()["failed"] == api.get("/tasks", params={"state": "failed"}).json()["count"] == 3
