"""Jobs per second for no-op jobs: the lab's instrumented worker vs the bare engine, same worker class, same Redis.

    python benchmarks/throughput.py                    # REDIS_URL if set, else an embedded broker
    REDIS_URL=redis://127.0.0.1:6379/13 python benchmarks/throughput.py --jobs 3000
    python benchmarks/throughput.py --engine celery    # the lab's Celery vs bare Celery (benchmarks/bare_celery.py)
    python benchmarks/throughput.py --engine arq       # the lab's ARQ vs bare ARQ (benchmarks/bare_arq.py)

Both sides run the same worker class (SimpleWorker by default, ``--kind fork``
for the forking Worker) in burst mode over the same broker; the queue is filled
first, then only the draining is timed. The lab's side pays for its lifecycle
events (started, completed) on every job; the goal is a ratio >= 0.8. Each round runs the two sides back
to back, alternating who goes first; it prints each side's median and the median of the rounds' own
ratios, which drifting load on a shared machine moves less.

With ``--engine celery`` both sides are Celery worker processes (``--kind simple``: the solo pool,
``fork``: prefork with one child) started on a filled queue; the draining is timed from the
result backend's ``date_done`` of the first and the last job, so the workers' start-up is left out.

With ``--engine arq`` both sides are burst ARQ workers (``benchmarks/bare_arq.py``: an ``async def`` no-op,
JSON, no lab code) with the same ``max_jobs`` (``BENCH_ARQ_MAX_JOBS``, default 10, ARQ's) and a 10 ms
``poll_delay`` (at ARQ's 0.5 s both would wait on the poll), timed between the first and the last
result's finish time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

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


POOLS = {"simple": "solo", "fork": "prefork"}
HERE = Path(__file__).resolve().parent


def _drain_rate(conn: redis.Redis, ids: list[str], worker: subprocess.Popen[bytes], timeout: float = 600) -> float:
    """Jobs per second between the first and the last ``date_done`` in Celery's result backend."""
    import json

    keys = [f"celery-task-meta-{job_id}" for job_id in ids]
    deadline = time.monotonic() + timeout
    try:
        while True:  # a cheap GET until the last job is done: an MGET of every key each time would slow the worker it times
            if not conn.exists(keys[-1]) and worker.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            metas = [json.loads(raw) for raw in conn.mget(keys) if raw]
            if sum(m.get("status") == "SUCCESS" for m in metas) == len(ids):
                break
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"only {len(metas)} of {len(ids)} Celery jobs finished")
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(30)
    done = sorted(datetime.fromisoformat(m["date_done"]).timestamp() for m in metas)
    return (len(done) - 1) / (done[-1] - done[0])


def run_bare_celery(conn: redis.Redis, url: str, kind: str, n: int) -> float:
    env = {**os.environ, "BENCH_BROKER": url, "PYTHONPATH": str(HERE)}
    sys.path.insert(0, str(HERE))  # bare_celery.py beside this script
    os.environ["BENCH_BROKER"] = url
    from bare_celery import app

    ids = [app.send_task("bench.noop", kwargs={"value": i}).id for i in range(n)]
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bare_celery", "worker", "-P", POOLS[kind], "-c", "1", "-Q", "bench-bare",
         "--without-gossip", "--without-mingle", "-l", "WARNING"],
        cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return _drain_rate(conn, ids, worker)


def run_lab_celery(conn: redis.Redis, url: str, kind: str, n: int) -> float:
    os.environ["LAB_QUEUE"] = "bench-lab"
    ids = [submit(conn, "noop", {"value": i}, engine="celery") for i in range(n)]
    env = {**os.environ, "REDIS_URL": url, "LAB_QUEUE": "bench-lab"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "labs", "worker", "--engine", "celery", f"--{kind}", "--log-level", "WARNING"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    rate = _drain_rate(conn, ids, worker)
    assert all(conn.hget("lab:states", job_id) == b"completed" for job_id in ids), "every lab job is completed in the log"
    return rate


ARQ_MAX_JOBS = int(os.environ.get("BENCH_ARQ_MAX_JOBS", "10"))  # ARQ's default: 10
ARQ_POLL_DELAY = 0.01  # ARQ polls a sorted set; at its default 0.5 s both sides would wait on the poll, not work


def _arq_rate(conn: redis.Redis, ids: list[str], worker: subprocess.Popen[bytes], timeout: float = 600) -> float:
    """Jobs per second between the first and the last finish time in ARQ's results (both sides store JSON)."""
    import json

    try:
        worker.wait(timeout)  # a burst worker: it exits once the queue is empty
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)
    raws = conn.mget([f"arq:result:{job_id}" for job_id in ids])
    done = sorted(json.loads(raw)["ft"] / 1000 for raw in raws if raw)
    if len(done) != len(ids):
        raise RuntimeError(f"only {len(done)} of {len(ids)} ARQ jobs finished")
    return (len(done) - 1) / (done[-1] - done[0])


def run_bare_arq(conn: redis.Redis, url: str, n: int) -> float:
    script = str(HERE / "bare_arq.py")
    ids = subprocess.run([sys.executable, script, "fill", url, str(n)], capture_output=True, text=True, check=True).stdout.split()
    worker = subprocess.Popen([sys.executable, script, "work", url, str(ARQ_MAX_JOBS), str(ARQ_POLL_DELAY)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return _arq_rate(conn, ids, worker)


def run_lab_arq(conn: redis.Redis, url: str, n: int) -> float:
    os.environ["LAB_QUEUE"] = "bench-lab"
    ids = [submit(conn, "noop", {"value": i}, engine="arq") for i in range(n)]
    code = ("import sys; from labs.engines.arq import make_worker; make_worker(sys.argv[1], 'bench-arq', burst=True, "
            f"max_jobs={ARQ_MAX_JOBS}, poll_delay={ARQ_POLL_DELAY}).run()")  # fmt: skip
    worker = subprocess.Popen([sys.executable, "-c", code, url], env={**os.environ, "REDIS_URL": url, "LAB_QUEUE": "bench-lab"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    rate = _arq_rate(conn, ids, worker)
    assert all(conn.hget("lab:states", job_id) == b"completed" for job_id in ids), "every lab job is completed in the log"
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--kind", choices=["simple", "fork"], default="simple")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engine", choices=["rq", "celery", "arq"], default="rq")
    args = parser.parse_args()
    os.environ.setdefault("LAB_TIME_SCALE", "1")

    broker = None
    url = os.environ.get("REDIS_URL")
    if not url:
        broker = EmbeddedBroker(write_url=False).start()
        url = broker.url
    conn = redis.Redis.from_url(url)
    where = "embedded broker (fakeredis)" if broker else url
    print(f"broker: {where}   engine: {args.engine}   worker class: {args.kind}   jobs: {args.jobs}   rounds: {args.rounds}")
    bare, lab = [], []
    try:
        if args.engine == "celery":
            sides = {"bare": lambda: run_bare_celery(conn, url, args.kind, args.jobs),
                     "lab": lambda: run_lab_celery(conn, url, args.kind, args.jobs)}  # fmt: skip
        elif args.engine == "arq":
            sides = {"bare": lambda: run_bare_arq(conn, url, args.jobs), "lab": lambda: run_lab_arq(conn, url, args.jobs)}
        else:
            sides = {"bare": lambda: run_bare(conn, args.kind, args.jobs), "lab": lambda: run_lab(conn, args.kind, args.jobs)}
        results = {"bare": bare, "lab": lab}
        for round_ in range(args.rounds):  # alternate who goes first, so drift hits both sides alike
            for name in ("bare", "lab") if round_ % 2 == 0 else ("lab", "bare"):
                conn.flushdb()
                results[name].append(sides[name]())
        conn.flushdb()
    finally:
        if broker:
            broker.stop()
    b, la = statistics.median(bare), statistics.median(lab)
    print(f"{'':24}{'median':>10}{'runs':>30}")
    name = {"rq": "RQ", "celery": "Celery", "arq": "ARQ"}[args.engine]
    print(f"{f'bare {name} (jobs/s)':24}{b:10.1f}   {', '.join(f'{x:.1f}' for x in bare):>27}")
    print(f"{'lab      (jobs/s)':24}{la:10.1f}   {', '.join(f'{x:.1f}' for x in lab):>27}")
    print(f"ratio lab / bare: {la / b:.2f}   (goal >= 0.80)")
    paired = sorted(x / y for x, y in zip(lab, bare, strict=True))  # each round's two sides ran back to back
    print(f"ratio of each round: {', '.join(f'{r:.2f}' for r in paired)}   median {statistics.median(paired):.2f}")


if __name__ == "__main__":
    main()
