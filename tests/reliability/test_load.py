"""10,000 jobs through the API from 50 clients: every id accounted for, no 5xx."""

from __future__ import annotations

from labs import events
from labs.launcher import workers
from labs.session import LabSession
from labs.settings import queue_name
from labs.task_queue import lab_queue
from labs.testing.accounting import count_events, wait_terminal
from labs.testing.api_process import ApiServer
from labs.testing.load import submit_load
from labs.testing.redis_server import RedisServer

JOBS = 10_000
CLIENTS = 50


def test_ten_thousand_jobs_from_fifty_clients_are_all_accounted_for(fast_redis_server: RedisServer, api: ApiServer) -> None:
    with LabSession(workers=2, kind="simple", queue=queue_name()) as lab:  # the API process sends to the lab queue
        load = submit_load(api.url, JOBS, clients=CLIENTS)
        assert load.statuses == {202: JOBS}, load.errors
        assert len(set(load.ids)) == JOBS

        result = wait_terminal(lab.conn, load.ids, timeout=240)
        assert result.lost == [] and result.stuck == []
        assert result.counts == {"completed": JOBS}
        # the event log, RQ's registry and the workers' own counters agree
        assert count_events(lab.conn, load.ids, "completed") == JOBS
        assert count_events(lab.conn, load.ids, "enqueued") == JOBS
        assert events.state_counts(lab.conn) == {"completed": JOBS}
        assert lab_queue(lab.conn).finished_job_registry.count == JOBS
        assert sum(w["successful"] for w in workers(lab.conn)) == JOBS
        print(f"\nsubmitted {JOBS} jobs in {load.seconds:.1f} s ({load.rate:.0f}/s) from {CLIENTS} clients")
