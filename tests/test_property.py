"""Every recorded event sequence is valid under the state machine, whatever happens to the jobs, on every engine."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labs import events, keys, states
from labs.broker import EmbeddedBroker, in_process_connection
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


def rq_lab() -> tuple[redis.Redis, Callable[[redis.Redis, list[str]], None]]:
    """An in-process fakeredis and RQ's burst worker in this process."""

    def run(conn: redis.Redis, ids: list[str]) -> None:
        for _ in range(6):  # retries with no wait are requeued at once
            run_burst(conn)

    return in_process_connection(), run


def celery_lab(broker: EmbeddedBroker) -> tuple[redis.Redis, Callable[[redis.Redis, list[str]], None]]:
    """The embedded broker and a Celery worker (solo pool) in a thread, started once every job is sent."""
    from celery.contrib.testing.worker import start_worker

    from labs.engines.celery import CeleryEngine

    conn = redis.Redis.from_url(broker.url)
    conn.flushdb()

    def run(conn: redis.Redis, ids: list[str]) -> None:
        app = CeleryEngine().app(conn)
        with start_worker(app, pool="solo", perform_ping_check=False, loglevel="ERROR"):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if all(states.is_terminal(events.current_state(conn, job_id) or "") for job_id in ids):
                    time.sleep(0.1)  # dead_lettered follows failed
                    return
                time.sleep(0.02)

    return conn, run


def arq_lab(broker: EmbeddedBroker) -> tuple[redis.Redis, Callable[[redis.Redis, list[str]], None]]:
    """The embedded broker and an ARQ worker in burst mode in a thread (its own event loop), started once every job is sent."""
    import threading

    from labs.engines.arq import make_worker

    conn = redis.Redis.from_url(broker.url)
    conn.flushdb()

    def run(conn: redis.Redis, ids: list[str]) -> None:
        def work() -> None:
            worker = make_worker(broker.url, "arq-property", burst=True, handle_signals=False)
            worker.run()  # burst: returns once ARQ's queue is empty (retries wait in it)
            worker.loop.run_until_complete(worker.loop.shutdown_default_executor())
            worker.loop.close()

        thread = threading.Thread(target=work, name="arq-property-worker")
        thread.start()
        thread.join(60)
        assert not thread.is_alive(), "the ARQ burst worker did not finish"

    return conn, run


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(outcomes, min_size=1, max_size=6))
def test_every_event_sequence_is_valid(jobs_to_run: list) -> None:
    check_sequences("rq", *rq_lab(), jobs_to_run)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(outcomes, min_size=1, max_size=6))
def test_every_event_sequence_is_valid_on_celery(embedded_broker: EmbeddedBroker, jobs_to_run: list) -> None:
    """The same property with Celery's worker (each example starts one: fewer examples)."""
    check_sequences("celery", *celery_lab(embedded_broker), jobs_to_run)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(outcomes, min_size=1, max_size=6))
def test_every_event_sequence_is_valid_on_arq(embedded_broker: EmbeddedBroker, jobs_to_run: list) -> None:
    """The same property with ARQ's worker (each example runs one in burst mode)."""
    check_sequences("arq", *arq_lab(embedded_broker), jobs_to_run)


def check_sequences(engine: str, conn: redis.Redis, run: Callable[[redis.Redis, list[str]], None], jobs_to_run: list) -> None:
    ids = []
    for task, params, retry in jobs_to_run:
        if task == "cancel-pending":
            job_id = submit(conn, "slow_task", params, engine=engine)
            cancel(conn, job_id)
        elif task == "cancel-running":
            job_id = submit(conn, "slow_task", params, engine=engine)
            conn.set(keys.cancel_flag(job_id), "1")  # as if cancel() arrived while it ran
        else:
            job_id = submit(conn, task, params, retry=retry, engine=engine)
        ids.append((task, job_id, params, retry))
    run(conn, [job_id for _, job_id, _, _ in ids])
    for task, job_id, params, retry in ids:
        history = events.job_events(conn, job_id)
        assert {e.data.get("engine") for e in history} == {engine}
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
