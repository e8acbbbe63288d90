"""Jobs per second for no-op jobs: the lab's instrumented worker vs bare RQ, same worker class, same Redis.

    python benchmarks/throughput.py                    # REDIS_URL if set, else an embedded broker
    REDIS_URL=redis://127.0.0.1:6379/13 python benchmarks/throughput.py --jobs 3000

Both sides run the same worker class (SimpleWorker by default, ``--kind fork``
for the forking Worker) in burst mode over the same broker; the queue is filled
first, then only the draining is timed. The lab's side pays for its lifecycle
events (started, completed) on every job; the goal is a ratio >= 0.8.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import redis
from rq import Queue, SimpleWorker, Worker

from labs.broker import EmbeddedBroker
from labs.jobs import submit
from labs.task_queue import SERIALIZER
from labs.worker import LabSimpleWorker, LabWorker

BARE = {"simple": SimpleWorker, "fork": Worker}
LAB = {"simple": LabSimpleWorker, "fork": LabWorker}


def run_bare(conn: redis.Redis, kind: str, n: int) -> float:
    queue = Queue("bench-bare", connection=conn, serializer=SERIALIZER)
    with conn.pipeline() as pipe:
        for i in range(n):
            queue.enqueue("labs.tasks.demo.noop", kwargs={"value": i}, pipeline=pipe)
        pipe.execute()
    worker = BARE[kind]([queue], connection=conn, serializer=SERIALIZER)
    start = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    elapsed = time.perf_counter() - start
    assert queue.finished_job_registry.count == n, "not every bare job finished"
    return n / elapsed


def run_lab(conn: redis.Redis, kind: str, n: int) -> float:
    os.environ["LAB_QUEUE"] = "bench-lab"
    for i in range(n):
        submit(conn, "noop", {"value": i})
    queue = Queue("bench-lab", connection=conn, serializer=SERIALIZER)
    worker = LAB[kind]([queue], connection=conn)
    start = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    elapsed = time.perf_counter() - start
    assert queue.finished_job_registry.count == n, "not every lab job finished"
    assert conn.xlen("lab:events") == 3 * n, "every job has enqueued, started and completed events"
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--kind", choices=["simple", "fork"], default="simple")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("LAB_TIME_SCALE", "1")

    broker = None
    url = os.environ.get("REDIS_URL")
    if not url:
        broker = EmbeddedBroker(write_url=False).start()
        url = broker.url
    conn = redis.Redis.from_url(url)
    where = "embedded broker (fakeredis)" if broker else url
    print(f"broker: {where}   worker class: {args.kind}   jobs per run: {args.jobs}   rounds: {args.rounds}")
    bare, lab = [], []
    try:
        for _ in range(args.rounds):  # alternate, so drift hits both sides alike
            conn.flushdb()
            bare.append(run_bare(conn, args.kind, args.jobs))
            conn.flushdb()
            lab.append(run_lab(conn, args.kind, args.jobs))
        conn.flushdb()
    finally:
        if broker:
            broker.stop()
    b, la = statistics.median(bare), statistics.median(lab)
    print(f"{'':24}{'median':>10}{'runs':>30}")
    print(f"{'bare RQ  (jobs/s)':24}{b:10.1f}   {', '.join(f'{x:.1f}' for x in bare):>27}")
    print(f"{'lab      (jobs/s)':24}{la:10.1f}   {', '.join(f'{x:.1f}' for x in lab):>27}")
    print(f"ratio lab / bare: {la / b:.2f}   (goal >= 0.80)")


if __name__ == "__main__":
    main()
