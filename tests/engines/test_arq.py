"""What is ARQ's own in the lab: its client on the lab's redis 8.1, its refusal of unknown functions, its re-runs.

ARQ 0.28 declares redis<6; the lab installs it without that pin (requirements-nodeps.txt). These tests run ARQ's
own asyncio client and real ARQ worker processes on the lab's redis client, on both brokers; every assertion is
about recorded sequences of events and states, never about durations.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from importlib.metadata import requires, version

import pytest
import redis as redis_py
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.jobs import Job

from labs import dlq, events, jobs
from labs.engines import arq as arq_engine
from labs.launcher import engine_workers, kill_worker
from labs.session import LabSession
from labs.settings import REPO_ROOT


@pytest.fixture
def arq_lab(broker: str) -> Iterator[LabSession]:
    session = LabSession(workers=1, engine="arq").start()
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


async def arq_pool(url: str) -> ArqRedis:
    return await create_pool(RedisSettings.from_dsn(url), job_serializer=arq_engine.dumps, job_deserializer=arq_engine.loads,
                             default_queue_name=arq_engine.queue())  # fmt: skip


def test_arq_runs_on_the_labs_redis_client() -> None:
    """The pinned ARQ, on the lab's redis 8.1 (ARQ itself declares redis<6): what the rest of this file relies on."""
    pins = dict(line.split("==") for line in (REPO_ROOT / "requirements-nodeps.txt").read_text().splitlines() if "==" in line)
    lab_pins = dict(line.split("==") for line in (REPO_ROOT / "requirements.txt").read_text().splitlines() if "==" in line)
    assert version("arq") == pins["arq"] and version("redis") == lab_pins["redis"]
    assert any("redis" in need and "<6" in need for need in requires("arq") or [])  # why it is installed --no-deps
    assert ArqRedis.__mro__[1] is redis_py.asyncio.Redis


def test_arqs_own_client_reads_a_lab_job(arq_lab: LabSession) -> None:
    """ARQ's ``Job(...).status()`` / ``.result()`` (its asyncio client) on a job the lab submitted from sync code."""
    job_id = arq_lab.submit("send_email", {"to": "arq@example.com", "fail_first": 1}, retry={"max_retries": 1, "base": 0.2})
    assert arq_lab.wait(job_id).state == "completed"

    async def read() -> tuple[str, dict]:
        pool = await arq_pool(arq_lab.url)
        try:
            job = Job(job_id, pool, _queue_name=arq_engine.queue(), _deserializer=arq_engine.loads)
            return (await job.status()).value, await job.result(timeout=5)
        finally:
            await pool.aclose()

    status, result = asyncio.run(read())
    assert status == "complete" and result["to"] == "arq@example.com" and result["attempt"] == 2
    assert jobs.job_view(arq_lab.conn, job_id)["result"] == result
    assert json.loads(arq_lab.conn.get(f"arq:result:{job_id}"))["t"] == 2  # JSON, ARQ's try number: not pickle


def test_the_worker_refuses_a_function_outside_the_catalogue(arq_lab: LabSession) -> None:
    async def send() -> str:
        pool = await arq_pool(arq_lab.url)
        try:
            job = await pool.enqueue_job("os.system", command="touch /tmp/owned")  # ARQ's own enqueue_job
            assert job is not None
            return job.job_id
        finally:
            await pool.aclose()

    job_id = asyncio.run(send())
    history = wait_event(arq_lab.conn, job_id, "dead_lettered")
    assert kinds(arq_lab.conn, job_id) == ["enqueued", "failed", "dead_lettered"]
    assert history[-1].data["reason"] == "permanent" and "not in the lab's task catalogue" in history[-1].data["error"]
    assert job_id in [entry["id"] for entry in dlq.list_entries(arq_lab.conn)]
    assert arq_lab.wait(arq_lab.submit("noop", {"value": 1})).state == "completed"  # the worker goes on


def test_a_worker_stopped_mid_job_hands_it_back(broker: str) -> None:
    """ARQ's stop (SIGTERM) cancels the running job and leaves it in the queue: the next worker runs it again."""
    with LabSession(workers=1, engine="arq") as lab:
        job_id = lab.submit("slow_task", {"steps": 40, "step_seconds": 1})
        wait_event(lab.conn, job_id, "progress")
        [first] = lab.live_names()
        lab.stop_worker(first)
        history = wait_event(lab.conn, job_id, "retry_scheduled")
        booked = next(e for e in history if e.event == "retry_scheduled")
        assert booked.data["redelivery"] == "worker_stopped" and booked.state == "pending"
        lab.add_worker()
        result = lab.wait(job_id)
        assert result.state == "completed" and result.attempts == 2
        assert kinds(lab.conn, job_id) == ["enqueued", "started", "abandoned", "retry_scheduled", "started", "completed"]


def test_a_dead_workers_job_runs_again_once_its_in_progress_key_expires(broker: str) -> None:
    """SIGKILL: the survivor's watchdog records ``abandoned`` and the wait for the in-progress key; then ARQ runs it again."""
    with LabSession(workers=2, engine="arq", env={"LAB_ARQ_JOB_TIMEOUT": "120"}) as lab:
        job_id = lab.submit("slow_task", {"steps": 20, "step_seconds": 1}, timeout=600)  # no retries: ARQ re-runs anyway
        wait_event(lab.conn, job_id, "progress")
        victim = next(w for w in engine_workers(lab.conn, "arq") if w["current_job"] == job_id)
        kill_worker(lab.conn, victim["name"], "arq")
        assert lab.procs[victim["name"]].wait(5) == -signal.SIGKILL
        result = lab.wait(job_id, timeout=60)
        assert result.state == "completed" and result.attempts == 2
        history = events.job_events(lab.conn, job_id)
        assert kinds(lab.conn, job_id) == ["enqueued", "started", "abandoned", "retry_scheduled", "started", "completed"]
        booked = next(e for e in history if e.event == "retry_scheduled")
        assert booked.data["redelivery"] == "in_progress_expiry" and booked.data["reason"] == "abandoned"
        assert history[-1].worker != victim["name"]
        assert lab.conn.hlen(arq_engine.RUNNING) == 0  # nothing left "running"
