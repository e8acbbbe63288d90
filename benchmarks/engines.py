"""RQ, Celery and ARQ side by side on one broker: the seed's comparison (Celery vs ARQ vs RQ), measured.

    python benchmarks/engines.py                        # REDIS_URL if set (its database is emptied), else an embedded broker
    REDIS_URL=redis://127.0.0.1:6379/5 LAB_TIME_SCALE=1 python benchmarks/engines.py --jobs 1000 --io-jobs 100

One worker process of the lab for each engine (RQ: ``SimpleWorker``; Celery: the solo pool; ARQ: one event
loop running ``max_jobs`` jobs at a time, one row per ``--arq-max-jobs``; ARQ polls its queue every
``poll_delay``, 0.5 s, ARQ's default, at LAB_TIME_SCALE=1), instrumented as always; every figure comes
from the lab's event log (:mod:`labs.lessons.race`, which lesson 10 runs too):

- no-op jobs/s: ``--jobs`` no-op jobs queued before the worker starts, first ``started`` to last ``completed``;
- submit -> start p50/p99: ``--latency-jobs`` no-op jobs, one at a time to an idle worker, at random gaps
  (``--gap`` on average: ARQ's 0.5 s poll is met at every phase);
- I/O-bound: ``--io-jobs`` jobs that each wait one demo second (``LAB_TIME_SCALE``, default 1 here), submitted
  together: wall time, and that in waits (wall time / one scaled second).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime

import redis

from labs.broker import EmbeddedBroker
from labs.clock import scaled
from labs.lessons.race import Row, race, table

ENGINES = ("rq", "celery", "arq")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000, help="no-op jobs for jobs/s")
    parser.add_argument("--latency-jobs", type=int, default=200, help="no-op jobs for submit -> start")
    parser.add_argument("--gap", type=float, default=0.25, help="mean seconds between latency submissions (random)")
    parser.add_argument("--io-jobs", type=int, default=100, help="I/O-bound jobs, each waiting one demo second")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated, default rq,celery,arq")
    parser.add_argument("--arq-max-jobs", default="10,100", help="ARQ's max_jobs, one row each (ARQ's default: 10)")
    args = parser.parse_args()
    os.environ.setdefault("LAB_TIME_SCALE", "1")
    os.environ["LAB_QUEUE"] = "bench-engines"
    engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    if unknown := set(engines) - set(ENGINES):
        parser.error(f"unknown engines {sorted(unknown)}; choose from {', '.join(ENGINES)}")

    broker = None
    url = os.environ.get("REDIS_URL")
    if not url:
        broker = EmbeddedBroker(write_url=False).start()
        url = os.environ["REDIS_URL"] = broker.url
    conn = redis.Redis.from_url(url)
    where = "embedded broker (fakeredis)" if broker else url
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC   broker: {where}   LAB_TIME_SCALE={os.environ['LAB_TIME_SCALE']} "
          f"(one demo second = {scaled(1):g} s)   python {sys.version.split()[0]}", flush=True)  # fmt: skip
    rows: list[Row] = []
    sizes = {"jobs": args.jobs, "latency_jobs": args.latency_jobs, "gap": args.gap, "io_jobs": args.io_jobs}
    try:
        for engine in engines:
            for max_jobs in args.arq_max_jobs.split(",") if engine == "arq" else [""]:
                conn.flushdb()
                env = {"LAB_ARQ_MAX_JOBS": max_jobs.strip()} if max_jobs else None
                label = f"max_jobs={max_jobs.strip()}" if max_jobs else None
                rows.append(race(engine, env=env, label=label, **sizes))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
        conn.flushdb()
    finally:
        if broker:
            broker.stop()
    print(table(rows))


if __name__ == "__main__":
    main()
