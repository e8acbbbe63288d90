"""The Celery solo pool's fast paths are taken, not silently replaced by their waited fallbacks.

The behavioural suite proves the log is right either way; these tests fail if ``started`` stops riding in
kombu's booking of the delivery, or ``completed`` in the transaction of Celery's own ``SUCCESS`` (the
fallbacks cost a round trip a job each: issue 13's throughput goal). A real Celery worker (the solo
pool, Celery's own ``start_worker``) runs in a thread of the test, so the lab's functions can be watched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery.contrib.testing.worker import start_worker

from labs import events, jobs
from labs.engines import celery as lab_celery
from labs.engines import celery_transport
from labs.engines.celery import CeleryEngine
from labs.testing.waiting import wait_until


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Which path each event took: the delivery's booking, the deferred line, the waited start, the result's write."""
    seen: dict[str, list[Any]] = {"in_delivery": [], "deferred": [], "waited_start": [], "in_result_write": []}
    on_delivery = lab_celery._started_on_delivery
    deferred_emit = events.DeferredWriter.emit
    start_fresh = lab_celery._start_fresh
    set_result = lab_celery.LabRedisBackend._set

    def watched_delivery(message: Any) -> Any:
        extra = on_delivery(message)
        if extra is not None:
            seen["in_delivery"].append(extra[0][-1][0])  # the append's EVALSHA, last of the commands
        return extra

    def watched_emit(self: events.DeferredWriter, job_id: str, event: str, state: str, **fields: Any) -> None:
        seen["deferred"].append(event)
        deferred_emit(self, job_id, event, state, **fields)

    def watched_start(conn: redis.Redis, task: Any, task_id: str, header: dict[str, Any]) -> None:
        seen["waited_start"].append(task_id)
        start_fresh(conn, task, task_id, header)

    def watched_set(self: Any, key: Any, value: Any, expires: Any = None) -> None:
        carried = lab_celery._completions.get(lab_celery._text(key))
        set_result(self, key, value, expires)
        if carried is not None and carried.written:
            seen["in_result_write"].append(carried.call["event"])

    monkeypatch.setattr(celery_transport, "on_delivery", watched_delivery)
    monkeypatch.setattr(events.DeferredWriter, "emit", watched_emit)
    monkeypatch.setattr(lab_celery, "_start_fresh", watched_start)
    monkeypatch.setattr(lab_celery.LabRedisBackend, "_set", watched_set)
    return seen


@pytest.fixture
def solo_worker(conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A Celery solo worker in this process, registered as the lab's run_worker would register it."""
    monkeypatch.setitem(lab_celery._WORKER, "name", "celery-simple-test")
    monkeypatch.setitem(lab_celery._WORKER, "pool", "solo")
    app = CeleryEngine().app(conn)
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"):
        yield
    lab_celery._WORKER.clear()


def test_started_rides_in_the_delivery_and_completed_in_the_result_write(
    conn: redis.Redis, calls: dict[str, list[Any]], solo_worker: None
) -> None:
    job_ids = [jobs.submit(conn, "noop", {"value": i}, engine="celery") for i in range(3)]
    for job_id in job_ids:
        wait_until(lambda job_id=job_id: events.current_state(conn, job_id) == "completed", timeout=30, what=job_id)
        assert [e.event for e in events.job_events(conn, job_id)] == ["enqueued", "started", "completed"]
    assert calls["in_delivery"] == ["EVALSHA"] * 3, "started rides in kombu's booking of each delivery"
    assert calls["waited_start"] == [] and calls["deferred"] == [], "no job took a fallback"
    assert calls["in_result_write"] == ["completed"] * 3, "completed is written with Celery's SUCCESS"
    assert conn.hlen(lab_celery.RUNNING) == 0


def test_a_job_cancelled_while_it_waited_is_never_run_on_the_fast_path(
    conn: redis.Redis, calls: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The early ``started`` is dropped by the log (the job is already over), so the body never runs."""
    job_id = jobs.submit(conn, "send_email", {"to": "never@example.com"}, engine="celery")
    jobs.cancel(conn, job_id)  # pending: cancelled at once in the log; no worker is up to hear the revoke
    ran: list[str] = []
    body = lab_celery._body

    def watched_body(func: str) -> Any:
        ran.append(func)
        return body(func)

    monkeypatch.setattr(lab_celery, "_body", watched_body)
    monkeypatch.setitem(lab_celery._WORKER, "name", "celery-simple-test")
    monkeypatch.setitem(lab_celery._WORKER, "pool", "solo")
    app = CeleryEngine().app(conn)
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"):
        after = jobs.submit(conn, "noop", {"value": 1}, engine="celery")  # behind it: once done, the first was handled
        wait_until(lambda: events.current_state(conn, after) == "completed", timeout=30, what=after)
    lab_celery._WORKER.clear()
    assert ran == ["labs.tasks.demo.noop"]
    assert [e.event for e in events.job_events(conn, job_id)] == ["enqueued", "cancelled"]
    assert conn.hlen(lab_celery.RUNNING) == 0
