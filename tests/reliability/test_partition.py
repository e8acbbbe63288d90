"""A worker machine cut off the network mid-job (issue 18, point 6), and plugged back in.

The far worker runs as a second host (:class:`labs.testing.netns.SecondHost`: a network namespace
behind a veth pair, with a host name of its own) and reaches a private ``redis-server`` over that
link only. The test pulls the cable while it runs a job, and checks that a worker on this machine
takes the job over once the heartbeat grace has run out, that the far worker's late end does not
overwrite the outcome once the link is back (it is recorded as ``duplicate_delivery``), and that no
job is lost or stuck. Skipped where namespaces cannot be made (not root, no ``ip``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator

import pytest
import redis
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from rq.worker import Worker

from labs import events, states
from labs.broker import in_process_connection
from labs.launcher import python_cmd, spawn
from labs.session import LabSession
from labs.task_queue import SERIALIZER, lab_queue
from labs.testing.accounting import wait_terminal
from labs.testing.netns import SecondHost, unavailable
from labs.testing.redis_server import RedisServer, RedisServerMissing
from labs.testing.waiting import wait_until
from labs.worker import make_worker, pid_alive, worker_gone

needs_namespaces = pytest.mark.skipif(unavailable() is not None, reason=f"no second host: {unavailable()}")

STEPS = 80  # x 1 demo second at LAB_TIME_SCALE 0.05: 4 s a job, well past the 2 s heartbeat grace


@pytest.fixture
def second_host() -> Iterator[SecondHost]:
    """A namespace and veth made for this test alone, deleted again whatever happens."""
    host = SecondHost()
    try:
        host.create()
    except (subprocess.CalledProcessError, OSError) as exc:
        reason = getattr(exc, "stderr", b"") or str(exc).encode()
        pytest.skip(f"cannot create a network namespace here: {reason.decode(errors='replace').strip()}")
    try:
        yield host
    finally:
        host.close()


@pytest.fixture
def shared_redis(second_host: SecondHost, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    """A private redis-server on loopback (this machine's workers) and on this side of the veth (the far one's)."""
    try:
        server = RedisServer(appendfsync="everysec", also_bind=(second_host.host_address,))
    except RedisServerMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI must provide one)")
        pytest.skip(str(exc))
    with server:
        monkeypatch.setenv("REDIS_URL", server.url)
        yield server


def _running_on(conn: redis.Redis, worker: str, ids: list[str], min_progress: int = 1) -> str | None:
    """The job of ``ids`` that ``worker`` runs and has reported ``min_progress`` steps of."""
    for job_id in ids:
        history = events.job_events(conn, job_id)
        starts = [i for i, e in enumerate(history) if e.event == "started" and e.worker == worker]
        if starts and sum(e.event == "progress" for e in history[starts[-1] :]) >= min_progress:
            return job_id
    return None


def _ends(conn: redis.Redis, job_id: str) -> list[tuple[str, str]]:
    """The job's events but progress, as (event, worker)."""
    return [(e.event, e.worker) for e in events.job_events(conn, job_id) if e.event != "progress"]


LATE_ENDS = {
    # the far attempt ends well: RQ would record a second success over the redelivery's
    "success": ("slow_task", {"steps": STEPS, "step_seconds": 1}, "completed"),
    # the far attempt fails (first attempt only): RQ would book a retry of a finished job, a run the log never sees
    "failure": ("send_email", {"to": "a@example.com", "subject": "hi", "fail_first": 1, "duration": 20}, "retry_scheduled"),
}


@needs_namespaces
@pytest.mark.parametrize("late", sorted(LATE_ENDS))
def test_worker_machine_cut_off_mid_job_is_recovered_and_its_late_end_is_a_duplicate(
    late: str, second_host: SecondHost, shared_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    task, params, late_event = LATE_ENDS[late]
    monkeypatch.setenv("LAB_TIME_SCALE", "0.05")  # heartbeat grace 2 s, maintenance every 1 s
    with LabSession(workers=0, kind="fork") as lab:
        conn = lab.conn
        far = f"far-{uuid.uuid4().hex[:6]}"
        env = {"REDIS_URL": shared_redis.url_on(second_host.host_address), "LAB_PARENT_PID": str(os.getpid())}
        lab.procs[far] = spawn(second_host.command(python_cmd("worker", "--fork", "--name", far)), far, env)
        lab.wait_registered([far])

        # the far worker is another machine: its host name differs, yet its pid is alive here (one kernel),
        # so only the host name keeps this machine from sparing its job for ever
        host, pid = (v.decode() for v in conn.hmget(Worker.redis_worker_namespace_prefix + far, "hostname", "pid"))
        assert host == second_host.hostname != socket.gethostname()
        assert pid_alive(int(pid))

        retry = {"max_retries": 2, "base": 0}  # redelivered at once: no wait on a scheduler lock the far host holds
        ids = [lab.submit(task, params, retry=retry) for _ in range(2)]
        cut = wait_until(lambda: _running_on(conn, far, ids), 30, what="the far worker mid-job")

        second_host.partition()
        try:
            near = lab.add_worker()
            # (a) redelivered after the heartbeat grace, on this machine, and done there, while the far one is cut off
            wait_until(lambda: ("completed", near) in _ends(conn, cut), 60, what="the redelivery done on this machine")
        finally:
            second_host.heal()

        # (b) the far worker's late end arrives after the outcome: recorded as a duplicate, not as the outcome
        dup = wait_until(
            lambda: [e for e in events.job_events(conn, cut) if e.event == "duplicate_delivery"], 60,
            what="the far worker's late end",
        )  # fmt: skip
        assert [(e.worker, e.data["late_event"], e.data["outcome"], e.state) for e in dup] == [
            (far, late_event, "completed", "completed")
        ]

        # (c) nothing lost, nothing stuck: every job completed, or failed and dead-lettered
        result = wait_terminal(conn, ids, timeout=60)
        assert result.lost == [] and result.stuck == [] and result.total == len(ids), result
        for job_id in ids:
            history = events.job_events(conn, job_id)
            replay = events.replay(history)  # every transition a legal one
            assert replay.state in states.TERMINAL
            if replay.state == "failed":
                assert replay.dead_lettered, _ends(conn, job_id)

        names = _ends(conn, cut)
        first_end = names.index(("completed", near))
        assert names[: first_end + 1] == [
            ("enqueued", ""), ("started", far), ("abandoned", near), ("retry_scheduled", near),
            ("started", near), ("completed", near),
        ]  # fmt: skip
        assert names[first_end + 1 :] == [("duplicate_delivery", far)]  # the far worker's end, and nothing after it
        assert events.current_state(conn, cut) == "completed"
        # RQ's own record is the redelivery's: finished, its one result, no retry booked by the late end
        job = Job.fetch(cut, connection=conn, serializer=SERIALIZER)
        assert job.get_status() == JobStatus.FINISHED
        assert [result.worker_name for result in job.results()] == [near]
        assert cut.encode() not in conn.lrange(lab_queue(conn).key, 0, -1)
        assert not conn.zscore(ScheduledJobRegistry(queue=lab_queue(conn)).key, cut)


@pytest.mark.parametrize("same_host", [True, False])
def test_a_live_pid_spares_a_silent_job_only_under_this_host_name(same_host: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the second host needs a name of its own: one kernel, so its pid is alive here too."""
    conn = in_process_connection()
    probe = make_worker(conn, "simple", name="probe")
    registry = probe.queues[0].started_job_registry
    conn.zadd(registry.key, {"job-1:execution-1": 1})  # its heartbeat ran out long ago
    conn.hset(Job.key_for("job-1"), "worker_name", "far")
    conn.hset(Worker.redis_worker_namespace_prefix + "far", mapping={"hostname": "far-host", "pid": os.getpid()})
    monkeypatch.setattr(socket, "gethostname", lambda: "far-host" if same_host else "near-host")

    assert probe._spare_live_jobs(probe.queues[0]) == (1 if same_host else 0)
    assert worker_gone(conn, "far") is False  # alive or elsewhere: either way judged by its heartbeat
