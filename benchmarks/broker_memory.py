"""The embedded broker's memory after N lab jobs: RSS of the ``python -m labs broker`` process.

    python benchmarks/broker_memory.py                      # 10,000 then 100,000 jobs (~20 min on 2 cores)
    python benchmarks/broker_memory.py --jobs 1000,5000     # a quick look
    python benchmarks/broker_memory.py --in-process         # ~3x faster: no TCP, one process


A fresh broker in a temporary state folder; at each step the queue is filled
with no-op jobs (``labs.jobs.submit``, as the API does), two burst
SimpleWorkers drain it, and the broker's resident memory (``VmRSS``), its key
count and the job count are printed. Everything a job leaves is kept as long
as the lab keeps it (results and failures ``LAB_RESULT_TTL``, a job's events
``LAB_EVENT_TTL``, the global event stream ``LAB_EVENTS_MAXLEN`` entries), so
the figures grow with the jobs until the TTLs expire them.

``--in-process`` keeps the same fakeredis server in this process and talks to it
without TCP (the lab's submit, then RQ's burst SimpleWorker here): the data
are the same, the RSS is this process's (broker and worker code together, the
idle figure taken after both are loaded).
"""

from __future__ import annotations

import argparse
import itertools
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from labs.jobs import submit
from labs.settings import REPO_ROOT


def rss(pid: int) -> int:
    """Resident memory of ``pid`` in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def drain(env: dict[str, str], workers: int) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "labs", "worker", "--simple", "--burst", "--log-level", "WARNING"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(workers)
    ]
    for proc in procs:
        if proc.wait() != 0:
            raise RuntimeError(f"a burst worker exited with {proc.returncode}")


_COPIES = itertools.count(1)


def copy_jobs(conn: Any, fake_server: Any, target: int) -> int:
    """Copy the finished jobs' data under new job ids until there are ``target`` jobs; how many there are.

    Each copy is what a finished no-op job leaves: its RQ record and result and
    its event stream (unpickled copies of the originals, as DUMP/RESTORE makes them), its
    entries in the lab's indexes and its three entries in the global event
    stream (trimmed as the lab trims it): the same data as running the job,
    many minutes sooner.
    """
    from fakeredis._core._database import Item

    from labs import keys
    from labs.settings import settings

    originals = [m.decode() for m in conn.zrange("rq:finished:lab", 0, -1)]
    global_events: dict[str, list[dict[bytes, bytes]]] = {}
    for _, fields in conn.xrange(keys.GLOBAL_STREAM):
        global_events.setdefault(fields.get(b"job_id", b"").decode(), []).append(fields)
    db = fake_server.dbs[0]
    count = conn.zcard("rq:finished:lab")
    while count < target:
        for job_id in originals:
            if count >= target:
                break
            new = f"{job_id[:16]}{next(_COPIES):016x}"  # unique across calls
            with fake_server.lock:
                for pattern in ("rq:job:{}", "rq:results:{}", keys.job_stream("{}")):
                    old = db._dict[pattern.format(job_id).encode()]
                    item = Item(pickle.loads(pickle.dumps(old.value)))  # as RESTORE does: no value shared
                    item.expireat = old.expireat
                    db[pattern.format(new).encode()] = item
            pipe = conn.pipeline(transaction=False)
            pipe.zadd("rq:finished:lab", {new: time.time()})
            pipe.zadd(keys.JOB_INDEX, {new: time.time()})
            pipe.hset(keys.JOB_STATES, new, conn.hget(keys.JOB_STATES, job_id) or b"")
            for fields in global_events.get(job_id, []):
                pipe.xadd(
                    keys.GLOBAL_STREAM, {**fields, b"job_id": new.encode()}, maxlen=settings().events_maxlen, approximate=True
                )
            pipe.execute()
            count += 1
    return count


def in_process(steps: list[int], copies_to: list[int]) -> None:
    import fakeredis

    from labs.broker import EmbeddedBroker
    from labs.worker import run_burst

    broker = EmbeddedBroker(write_url=False).start()
    conn = fakeredis.FakeRedis(server=broker.server.fake_server)
    submit(conn, "noop", {"value": -1})
    run_burst(conn)  # every module the worker needs is loaded before the idle figure
    base = rss(os.getpid())
    print(f"{'jobs':>8} {'RSS':>10} {'over idle':>10} {'per job':>9} {'keys':>8} {'elapsed':>8}")
    print(f"{0:>8} {base / 2**20:>8.1f}MB {'':>10} {'':>9} {conn.dbsize():>8}")
    done, started = 0, time.monotonic()
    for target in steps:
        while done < target:
            submit(conn, "noop", {"value": done})
            done += 1
        run_burst(conn)
        report(base, done, conn, started)
    for target in copies_to:
        done = copy_jobs(conn, broker.server.fake_server, target)
        report(base, done, conn, started, note=f"(the {steps[-1]:,} jobs above and copies of them)")
    broker.stop()


def report(base: int, done: int, conn: Any, started: float, note: str = "") -> None:
    grown = rss(os.getpid()) - base
    print(
        f"{done:>8} {(base + grown) / 2**20:>8.1f}MB {grown / 2**20:>8.1f}MB {grown / done / 1024:>7.1f}KB "
        f"{conn.dbsize():>8} {time.monotonic() - started:>7.0f}s {note}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", default="10000,100000", help="cumulative job counts to measure at (comma-separated)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--in-process", action="store_true", help="the broker's fakeredis server in this process, no TCP")
    parser.add_argument(
        "--copies-to", default="", help="--in-process: then copy the jobs' data up to these job counts (comma-separated)"
    )
    args = parser.parse_args()
    steps = [int(n) for n in args.jobs.split(",")]
    if args.in_process:
        os.environ.update(
            LAB_STATE_DIR=tempfile.mkdtemp(prefix="lab-broker-memory-"), LAB_TIME_SCALE="0", LAB_EMBEDDER="fallback"
        )
        in_process(steps, [int(n) for n in args.copies_to.split(",") if n])
        return
    state = Path(tempfile.mkdtemp(prefix="lab-broker-memory-"))
    env = {**os.environ, "LAB_STATE_DIR": str(state), "LAB_TIME_SCALE": "0", "LAB_EMBEDDER": "fallback"}
    env["LAB_BROKER_SNAPSHOT_SECONDS"] = "0"  # only on stop: a snapshot's copy would show in the figures
    env.pop("REDIS_URL", None)
    os.environ.update({k: env[k] for k in ("LAB_STATE_DIR", "LAB_TIME_SCALE")})
    broker = subprocess.Popen([sys.executable, "-m", "labs", "broker"], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        url_path = state / "broker.url"
        deadline = time.monotonic() + 30
        while not url_path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        conn = redis.Redis.from_url(url_path.read_text().strip())
        conn.ping()
        base = rss(broker.pid)
        print(f"broker pid {broker.pid}, state {state}")
        print(f"{'jobs':>8} {'RSS':>10} {'over idle':>10} {'per job':>9} {'keys':>8} {'SAVE':>7} {'snapshot':>9} {'elapsed':>8}")
        print(f"{0:>8} {base / 2**20:>8.1f}MB {'':>10} {'':>9} {conn.dbsize():>8}")
        done = 0
        started = time.monotonic()
        for target in steps:
            t0 = time.monotonic()
            while done < target:
                submit(conn, "noop", {"value": done})
                done += 1
            t1 = time.monotonic()
            drain(env, args.workers)
            print(f"  submitted in {t1 - t0:.0f}s, drained in {time.monotonic() - t1:.0f}s", flush=True)
            now = rss(broker.pid)
            grown = now - base
            t2 = time.monotonic()
            conn.save()  # the snapshot the broker writes every LAB_BROKER_SNAPSHOT_SECONDS: how long it holds the broker
            saving = time.monotonic() - t2
            size = (state / "broker.snapshot").stat().st_size
            print(
                f"{done:>8} {now / 2**20:>8.1f}MB {grown / 2**20:>8.1f}MB {grown / done / 1024:>7.1f}KB {conn.dbsize():>8} "
                f"{saving:>6.2f}s {size / 2**20:>7.1f}MB {time.monotonic() - started:>7.0f}s",
                flush=True,
            )
    finally:
        broker.terminate()
        broker.wait(60)


if __name__ == "__main__":
    main()
