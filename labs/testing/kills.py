"""Workers SIGKILLed in the middle of a job, as a crash would: the lab must redeliver, not lose, the job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis

from .. import events
from ..launcher import kill_worker, workers
from ..session import LabSession
from .waiting import wait_until


@dataclass(frozen=True)
class Kill:
    """One worker SIGKILLed mid-job."""

    worker: str
    job_id: str


def _busy_worker(lab: LabSession, conn: redis.Redis, min_progress: int) -> tuple[str, str] | None:
    """A worker of ``lab`` running a job that has reported ``min_progress`` steps, as (worker, job id)."""
    mine = set(lab.live_names())
    for info in workers(conn):
        job_id = info["current_job"]
        if info["name"] not in mine or not job_id or events.current_state(conn, job_id) != "running":
            continue
        history = events.job_events(conn, job_id)
        started = [i for i, e in enumerate(history) if e.event == "started" and e.worker == info["name"]]
        if started and sum(e.event == "progress" for e in history[started[-1] :]) >= min_progress:
            return info["name"], job_id
    return None


def kill_workers_mid_job(
    lab: LabSession,
    times: int,
    *,
    timeout: float = 60.0,
    min_progress: int = 1,
    replace: bool = True,
    on_kill: Callable[[Kill], None] | None = None,
) -> list[Kill]:
    """SIGKILL a worker of ``lab`` in the middle of a job, ``times`` times; return what was killed.

    Each victim runs a job that has already reported progress, so the kill
    lands mid-job. With ``replace`` a fresh worker is started after each kill,
    so the lab keeps its number of workers.
    """
    conn = lab.conn
    kills: list[Kill] = []
    for _ in range(times):
        name, job_id = wait_until(lambda: _busy_worker(lab, conn, min_progress), timeout, what="a worker busy with a job")
        kill_worker(conn, name)
        lab.stop_worker(name)  # reap the dead process
        kill = Kill(name, job_id)
        kills.append(kill)
        if on_kill is not None:
            on_kill(kill)
        if replace:
            lab.add_worker()
    return kills
