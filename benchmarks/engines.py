"""RQ, Celery and ARQ side by side on one broker: the seed's comparison (Celery vs ARQ vs RQ), measured.

    python benchmarks/engines.py                        # REDIS_URL if set (its database is emptied), else an embedded broker
    REDIS_URL=redis://127.0.0.1:6379/5 python benchmarks/engines.py --jobs 1000 --io-jobs 100

For each engine, one worker process of the lab (RQ: ``SimpleWorker``; Celery: the solo pool, or ``--celery-kind fork``
for prefork with one child; ARQ: one event loop, ``max_jobs`` jobs at a time, one row per ``--arq-max-jobs``;
ARQ polls its queue every ``poll_delay``: 0.5 s, ARQ's default, at LAB_TIME_SCALE=1), instrumented as always,
and every figure read from the lab's event log (the same clock for all three):

- **no-op jobs/s**: ``--jobs`` no-op jobs queued before the worker starts; from the first ``started`` to the
  last ``completed`` (the worker's start-up is left out);
- **submit -> start p50/p99**: ``--latency-jobs`` no-op jobs submitted one at a time to an idle worker
  (``--gap`` seconds apart); ``started.ts - enqueued.ts``;
- **100 I/O-bound jobs**: ``--io-jobs`` ``slow_task(steps=1, step_seconds=1)`` jobs (each waits one demo second,
  scaled by ``LAB_TIME_SCALE``, default 0.1 here) submitted together; the wall time from the first ``enqueued``
  to the last ``completed``, also in waits (wall time / one scaled second).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime

import redis

from labs import events
from labs.broker import EmbeddedBroker
from labs.clock import scaled
from labs.jobs import wait_for
from labs.session import LabSession

ENGINES = ("rq", "celery", "arq")


def _events(conn: redis.Redis) -> dict[str, list[events.Event]]:
    by_job: dict[str, list[events.Event]] = {}
    after = "0-0"
    while batch := events.read_global(conn, after=after, count=10_000):
        for event in batch:
            by_job.setdefault(event.job_id, []).append(event)
        after = batch[-1].id
    return by_job


def _first(history: list[events.Event], kind: str) -> float:
    return next(e.ts for e in history if e.event == kind)


def _wait_all(conn: redis.Redis, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(ids)
    while pending:
        states = conn.hmget("lab:states", pending)
        pending = [job_id for job_id, state in zip(pending, states, strict=True) if state != b"completed"]
        if any(state == b"failed" for state in states):
            raise RuntimeError("a benchmark job failed; see .lab/logs/")
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} of {len(ids)} jobs not completed after {timeout:g} s")
        time.sleep(0.05)


def noop_rate(lab: LabSession, n: int) -> float:
    ids = [lab.submit("noop", {"value": i}) for i in range(n)]
    lab.add_worker()
    _wait_all(lab.conn, ids, timeout=600)
    history = _events(lab.conn)
    start = min(_first(history[i], "started") for i in ids)
    end = max(_first(history[i], "completed") for i in ids)
    return n / (end - start)


def latency(lab: LabSession, n: int, gap: float) -> tuple[float, float]:
    waits = []
    for i in range(n):
        job_id = lab.submit("noop", {"value": i})
        wait_for(lab.conn, job_id, timeout=60)
        history = events.job_events(lab.conn, job_id)
        waits.append(_first(history, "started") - _first(history, "enqueued"))
        time.sleep(gap)
    cuts = statistics.quantiles(waits, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def io_wall(lab: LabSession, n: int) -> float:
    ids = [lab.submit("slow_task", {"steps": 1, "step_seconds": 1}) for _ in range(n)]
    _wait_all(lab.conn, ids, timeout=max(120, 3 * n * scaled(1)))
    history = _events(lab.conn)
    return max(_first(history[i], "completed") for i in ids) - min(_first(history[i], "enqueued") for i in ids)


def kind_of(engine: str, celery_kind: str) -> str:
    return {"rq": "simple", "celery": celery_kind, "arq": "async"}[engine]


def label(engine: str, celery_kind: str) -> str:
    return {
        "rq": "RQ (SimpleWorker)",
        "celery": f"Celery ({'solo' if celery_kind == 'simple' else 'prefork -c 1'})",
        "arq": f"ARQ (max_jobs={os.environ.get('LAB_ARQ_MAX_JOBS', '10')})",  # ARQ's default: 10
    }[engine]


def measure(conn: redis.Redis, engine: str, args: argparse.Namespace) -> dict[str, float]:
    kind = kind_of(engine, args.celery_kind)
    conn.flushdb()
    with LabSession(workers=0, kind=kind, engine=engine) as lab:
        rate = noop_rate(lab, args.jobs)
        p50, p99 = latency(lab, args.latency_jobs, args.gap)
        wall = io_wall(lab, args.io_jobs)
    conn.flushdb()
    return {"rate": rate, "p50": p50, "p99": p99, "wall": wall, "waits": wall / scaled(1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000, help="no-op jobs for jobs/s")
    parser.add_argument("--latency-jobs", type=int, default=200, help="no-op jobs for submit -> start")
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between latency submissions")
    parser.add_argument("--io-jobs", type=int, default=100, help="I/O-bound jobs, each waiting one demo second")
    parser.add_argument("--celery-kind", choices=["simple", "fork"], default="simple")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated, default rq,celery,arq")
    parser.add_argument("--arq-max-jobs", default="10,100", help="ARQ's max_jobs, one row each (ARQ's default: 10)")
    args = parser.parse_args()
    os.environ.setdefault("LAB_TIME_SCALE", "0.1")
    os.environ["LAB_QUEUE"] = "bench-engines"
    engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    if unknown := set(engines) - set(ENGINES):
        parser.error(f"unknown engines {sorted(unknown)}; choose from {', '.join(ENGINES)}")

    broker = None
    url = os.environ.get("REDIS_URL")
    if not url:
        broker = EmbeddedBroker(write_url=False).start()
        url = broker.url
        os.environ["REDIS_URL"] = url
    conn = redis.Redis.from_url(url)
    where = "embedded broker (fakeredis)" if broker else url
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC   broker: {where}   LAB_TIME_SCALE={os.environ['LAB_TIME_SCALE']} "
          f"(one demo second = {scaled(1):g} s)   python {sys.version.split()[0]}")  # fmt: skip
    rows = {}
    try:
        for engine in engines:
            for max_jobs in args.arq_max_jobs.split(",") if engine == "arq" else [""]:
                if max_jobs:
                    os.environ["LAB_ARQ_MAX_JOBS"] = max_jobs.strip()  # the worker process reads it
                rows[label(engine, args.celery_kind)] = measure(conn, engine, args)
    finally:
        if broker:
            broker.stop()
    io = f"{args.io_jobs} I/O jobs"
    print(f"{'one worker process':24}{'no-op jobs/s':>14}{'start p50 ms':>14}{'start p99 ms':>14}{io + ' s':>16}{'in waits':>10}")
    for name, row in rows.items():
        print(f"{name:24}{row['rate']:14.0f}{row['p50']:14.1f}{row['p99']:14.1f}"
              f"{row['wall']:16.2f}{row['waits']:10.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
