"""The lab's job index (``lab:jobs``, ``lab:states``, ``lab:owners``) lets go of a job once the job itself has expired.

One entry a job and no TTL of their own: without the sweep (``events.forget_expired``)
a class's broker would hold every job it ever ran, and the per-state counts would keep
jobs that ``GET /tasks?state=`` no longer lists (issue 19).
"""

from __future__ import annotations

import time
import warnings

import pytest
import redis

from labs import events, jobs, keys
from labs.api import create_app
from labs.testing.waiting import wait_until
from labs.worker import run_burst

with warnings.catch_warnings():  # Starlette suggests httpx2 for its TestClient; the lab pins httpx
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


@pytest.fixture
def short_lived(monkeypatch: pytest.MonkeyPatch) -> None:
    """Finished jobs' records and every event stream expire after a second."""
    monkeypatch.setenv("LAB_TIME_SCALE", "0")
    monkeypatch.setenv("LAB_EVENT_TTL", "1")
    monkeypatch.setenv("LAB_RESULT_TTL", "1")


def _expired(conn: redis.Redis, *job_ids: str) -> bool:
    return all(conn.exists(keys.job_stream(job_id), keys.rq_job(job_id)) == 0 for job_id in job_ids)


def _indexed(conn: redis.Redis) -> tuple[set[str], set[str], set[str]]:
    def ids(raw: list[bytes]) -> set[str]:
        return {i.decode() for i in raw}

    return ids(conn.zrange(keys.JOB_INDEX, 0, -1)), ids(conn.hkeys(keys.JOB_STATES)), ids(conn.hkeys(keys.OWNERS))


@pytest.mark.usefixtures("short_lived")
def test_an_expired_job_leaves_the_index_and_the_counts_agree_with_the_listing(conn: redis.Redis) -> None:
    done = jobs.submit(conn, "noop", {}, student="ana")
    failed = jobs.submit(conn, "risky_task", {"data": {"poison": True}, "fail_fast": True}, student="ana")
    run_burst(conn)
    waiting = jobs.submit(conn, "noop", {}, student="ana")  # queued: RQ keeps its record, whatever its stream does
    wait_until(lambda: _expired(conn, done, failed) and not conn.exists(keys.job_stream(waiting)), timeout=10, what="expiry")
    assert _indexed(conn) == ({done, failed, waiting},) * 3  # nothing expires these by itself
    assert events.forget_expired(conn) == 2
    assert _indexed(conn) == ({waiting},) * 3
    assert jobs.job_view(conn, waiting)["state"] == "pending"
    assert events.state_counts(conn) == {"pending": 1}
    with TestClient(create_app()) as api:
        for state in ("pending", "running", "completed", "failed"):
            listed = api.get("/tasks", params={"state": state}).json()["count"]
            assert listed == events.state_counts(conn).get(state, 0), state


@pytest.mark.usefixtures("short_lived")
def test_the_counts_drop_an_expired_job_without_waiting_for_a_worker(conn: redis.Redis) -> None:
    job_id = jobs.submit(conn, "noop", {})
    run_burst(conn)
    assert events.state_counts(conn) == {"completed": 1}
    wait_until(lambda: _expired(conn, job_id), timeout=10, what="expiry")
    assert events.state_counts(conn) == {}
    assert conn.zcard(keys.JOB_INDEX) == 0


@pytest.mark.usefixtures("short_lived")
def test_a_live_job_in_front_does_not_hide_the_expired_ones_behind_it(conn: redis.Redis) -> None:
    live = jobs.submit(conn, "noop", {})  # the oldest, and still held (queued)
    later = [jobs.submit(conn, "noop", {}) for _ in range(3)]
    for job_id in later:  # as if each had run and expired
        conn.delete(keys.job_stream(job_id), keys.rq_job(job_id))
    wait_until(lambda: not conn.exists(keys.job_stream(live)), timeout=10, what="the live job's stream to expire")
    assert events.forget_expired(conn, now=time.time() + 2, page=1) == 3
    assert _indexed(conn)[0] == {live}


def test_a_job_younger_than_its_event_ttl_is_never_looked_at(conn: redis.Redis) -> None:
    """With the default 7 days nothing from today is a candidate, so the sweep costs one empty range read."""
    job_id = jobs.submit(conn, "noop", {})
    conn.delete(keys.job_stream(job_id), keys.rq_job(job_id))
    assert events.forget_expired(conn) == 0
    assert events.forget_expired(conn, now=10**10) == 1


@pytest.mark.usefixtures("short_lived")
def test_a_workers_maintenance_trims_the_index(conn: redis.Redis) -> None:
    job_id = jobs.submit(conn, "noop", {})
    run_burst(conn)
    wait_until(lambda: _expired(conn, job_id), timeout=10, what="expiry")
    assert conn.zcard(keys.JOB_INDEX) == 1
    run_burst(conn)  # an RQ worker runs its maintenance when it starts, then every LAB_TIME_SCALE-d 10 s
    assert conn.zcard(keys.JOB_INDEX) == conn.hlen(keys.JOB_STATES) == 0
