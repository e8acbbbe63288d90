"""One worker process of each engine, the same jobs, one broker: the seed's comparison, measured (lesson 10, benchmarks).

Every figure is read from the lab's event log (the same clock for all three engines):

- :func:`noop_rate` — no-op jobs queued before the worker starts; jobs per second from the first ``started``
  to the last ``completed`` (the worker's start-up is left out);
- :func:`start_latency` — no-op jobs submitted one at a time, at random gaps, to an idle worker; ``started.ts - enqueued.ts``;
- :func:`io_wall` — I/O-bound jobs (``slow_task(steps=1, step_seconds=1)``: each waits one demo second) submitted
  together; the wall time from the first ``enqueued`` to the last ``completed``, and that in waits.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis

from .. import events, keys
from ..clock import scaled, time_scale
from ..session import LabSession
from ..settings import environment, state_dir

KINDS = {"rq": "simple", "celery": "simple", "arq": "async"}
"""One worker process each: RQ's SimpleWorker, Celery's solo pool, ARQ's event loop."""


@dataclass
class Row:
    engine: str
    worker: str
    noop_per_s: float
    start_p50_ms: float
    start_p99_ms: float
    io_jobs: int
    io_seconds: float
    io_waits: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _histories(conn: redis.Redis, ids: list[str]) -> dict[str, list[events.Event]]:
    with conn.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.xrange(keys.job_stream(job_id))
        raw = pipe.execute()
    return {job_id: [events.parse(*entry) for entry in entries] for job_id, entries in zip(ids, raw, strict=True)}


def _ts(history: list[events.Event], kind: str) -> float:
    return next(e.ts for e in history if e.event == kind)


def wait_all(conn: redis.Redis, ids: list[str], timeout: float) -> None:
    """Block until every job is ``completed`` (a failed one raises: a race with a failure measures nothing)."""
    deadline = time.monotonic() + timeout
    pending = list(ids)
    while pending:
        states = conn.hmget(keys.JOB_STATES, pending)
        if b"failed" in states:
            raise RuntimeError("a race job failed; see the workers' logs")
        pending = [job_id for job_id, state in zip(pending, states, strict=True) if state != b"completed"]
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} of {len(ids)} jobs not completed after {timeout:g} s")
        time.sleep(0.02)


def noop_rate(lab: LabSession, n: int) -> float:
    """No-op jobs per second of ``lab``'s next worker, on a queue filled before it starts."""
    ids = [lab.submit("noop", {"value": i}) for i in range(n)]
    lab.add_worker()
    wait_all(lab.conn, ids, timeout=max(120.0, n / 5))
    history = _histories(lab.conn, ids)
    start = min(_ts(history[i], "started") for i in ids)
    end = max(_ts(history[i], "completed") for i in ids)
    return (n - 1) / (end - start) if end > start else float("inf")


def start_latency(lab: LabSession, n: int, gap: float = 0.02) -> tuple[float, float]:
    """(p50, p99) milliseconds from ``enqueued`` to ``started``, one job at a time to an idle worker.

    The jobs are ``gap`` seconds apart on average, at random (0 to 2 ``gap``): a worker that polls (ARQ) is
    met at every phase of its poll, not always at the same one.
    """
    waits = []
    for i in range(n):
        job_id = lab.submit("noop", {"value": i})
        wait_all(lab.conn, [job_id], timeout=60)
        history = events.job_events(lab.conn, job_id)
        waits.append(_ts(history, "started") - _ts(history, "enqueued"))
        time.sleep(random.uniform(0, 2 * gap))
    cuts = statistics.quantiles(waits, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def io_wall(lab: LabSession, n: int) -> tuple[float, float]:
    """(seconds, waits) for ``n`` jobs of one demo second each, submitted together: first ``enqueued`` to last ``completed``."""
    ids = [lab.submit("slow_task", {"steps": 1, "step_seconds": 1}) for _ in range(n)]
    wait_all(lab.conn, ids, timeout=max(120.0, 3 * n * scaled(1)))
    history = _histories(lab.conn, ids)
    wall = max(_ts(history[i], "completed") for i in ids) - min(_ts(history[i], "enqueued") for i in ids)
    return wall, wall / scaled(1) if scaled(1) else float("inf")


def race(engine: str, *, jobs: int = 200, latency_jobs: int = 30, gap: float = 0.02, io_jobs: int = 100,
         env: dict[str, str] | None = None, label: str | None = None) -> Row:  # fmt: skip
    """The three measurements for one worker process of ``engine`` (its own session, stopped after)."""
    with LabSession(workers=0, kind=KINDS[engine], engine=engine, env=env) as lab:
        rate = noop_rate(lab, jobs)
        p50, p99 = start_latency(lab, latency_jobs, gap)
        seconds, waits = io_wall(lab, io_jobs)
    worker = label or {"rq": "SimpleWorker", "celery": "solo pool", "arq": "event loop"}[engine]
    return Row(engine, worker, rate, p50, p99, io_jobs, seconds, waits)


def table(rows: list[Row]) -> str:
    """The rows as a fixed-width table (what the lesson and the benchmark print)."""
    lines = [f"{'engine':8}{'worker':22}{'no-op jobs/s':>13}{'start p50 ms':>14}{'start p99 ms':>14}"
             f"{'I/O jobs':>10}{'wall s':>9}{'waits':>8}"]  # fmt: skip
    for row in rows:
        lines.append(f"{row.engine:8}{row.worker:22}{row.noop_per_s:13.0f}{row.start_p50_ms:14.1f}{row.start_p99_ms:14.1f}"
                     f"{row.io_jobs:10d}{row.io_seconds:9.2f}{row.io_waits:8.1f}")  # fmt: skip
    return "\n".join(lines)


def results_file() -> Path:
    """Where the last race on this machine is kept (the state folder), for the lessons that come after it."""
    return state_dir() / "race.json"


def save(rows: list[Row]) -> Path:
    """Keep a race's rows (lesson 10) so that a later lesson can quote what was measured here, not a constant."""
    path = results_file()
    path.write_text(json.dumps({"measured": time.time(), "rows": [row.as_dict() for row in rows]}, indent=1))
    return path


def io_waits(engines: tuple[str, ...] = ("rq", "celery", "arq"), jobs: int = 10) -> tuple[dict[str, float], str]:
    """Waits that I/O-bound jobs took on one worker process of each engine, and where the figures come from.

    The last race on this machine (lesson 10) when it measured every one of ``engines``; otherwise a
    small race now (``jobs`` one-wait jobs each, at no less than 0.1 s a demo second).
    """
    with_figures = {}
    path = results_file()
    if path.exists():
        try:
            with_figures = {row["engine"]: float(row["io_waits"]) for row in json.loads(path.read_text())["rows"]}
        except (ValueError, KeyError, TypeError):
            with_figures = {}
    if all(engine in with_figures for engine in engines):
        return {engine: with_figures[engine] for engine in engines}, f"lesson 10's race ({path.name})"
    waits = {}
    with environment(LAB_TIME_SCALE=str(max(0.1, time_scale()))):
        for engine in engines:
            with LabSession(workers=1, kind=KINDS[engine], engine=engine) as lab:
                waits[engine] = io_wall(lab, jobs)[1]
    return waits, f"a race just now ({jobs} jobs each)"
