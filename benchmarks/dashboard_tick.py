"""How long one refresh tick of the live board takes with 10,000 jobs in the broker.

    python benchmarks/dashboard_tick.py                      # the embedded broker (started here)
    python benchmarks/dashboard_tick.py --url redis://127.0.0.1:6379/13
    python benchmarks/dashboard_tick.py --jobs 2000 --keep   # smaller; keep the data for a look

It submits ``--jobs`` real ``noop`` jobs and runs them with an in-process
SimpleWorker burst (each leaves enqueued, started, completed in the event log),
then times:

1. the board's reader alone (:meth:`labs.dashboard.board.Board.update`): the
   first tick on the full history, how many ticks it takes to catch up (each
   tick reads for at most its budget), a steady-state tick with nothing new,
   and a tick after 100 more jobs ran;
2. the whole board fragment as Streamlit runs it (under AppTest): the page
   records the fragment's own duration (reading + drawing) in
   ``st.session_state["tick_ms"]``.

The database given with ``--url`` is flushed first. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import redis

from labs import jobs
from labs.broker import EmbeddedBroker
from labs.dashboard.board import Board
from labs.worker import run_burst

REPO = Path(__file__).resolve().parent.parent


def fill(conn: redis.Redis, count: int) -> float:
    """Submit ``count`` noop jobs and run them in-process; return the seconds it took."""
    started = time.perf_counter()
    for n in range(count):
        jobs.submit(conn, "noop", {"value": n})
        if (n + 1) % 2000 == 0:
            run_burst(conn)
            print(f"  {n + 1:>6} jobs run ({time.perf_counter() - started:.0f} s)", flush=True)
    run_burst(conn)
    return time.perf_counter() - started


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def reader_ticks(conn: redis.Redis) -> None:
    board = Board()
    started = time.perf_counter()
    board.update(conn)
    first = time.perf_counter() - started
    print(f"first tick            {ms(first)}  ({board.events_read:,} events read, behind={board.behind})")
    ticks, catch_up = 1, first
    while board.behind:
        started = time.perf_counter()
        board.update(conn)
        catch_up += time.perf_counter() - started
        ticks += 1
    print(f"caught up after       {ticks} ticks, {catch_up:.2f} s of reading", end=" ")
    print(f"({board.events_read:,} events, {board.total:,} jobs)")
    idle = []
    for _ in range(20):
        started = time.perf_counter()
        board.update(conn)
        board.column_counts(), list(board.latest(200)), board.gantt_rows(200), board.throughput()
        idle.append(time.perf_counter() - started)
    print(f"steady tick, nothing new   median {ms(statistics.median(idle))}  max {ms(max(idle))}")
    fill(conn, 100)
    started = time.perf_counter()
    new = board.update(conn)
    board.column_counts(), list(board.latest(200)), board.gantt_rows(200), board.throughput()
    print(f"tick after 100 more jobs   {ms(time.perf_counter() - started)}  ({new} new events)")


def fragment_ticks(url: str) -> None:
    from streamlit.testing.v1 import AppTest

    os.environ["REDIS_URL"] = url
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    started = time.perf_counter()
    at.run()
    first_run = time.perf_counter() - started
    first_tick = at.session_state["tick_ms"]
    runs = 1
    while at.session_state["board"].behind:
        at.run()
        runs += 1
    print(f"fragment, first tick  {first_tick:7.1f} ms  (whole first page run {first_run:.2f} s, imports included)")
    print(f"fragment caught up after {runs} page runs; {at.session_state['board'].total:,} jobs on the board")
    steady = []
    for _ in range(10):
        at.run()
        steady.append(at.session_state["tick_ms"])
    print(f"fragment, steady tick median {statistics.median(steady):7.1f} ms  max {max(steady):7.1f} ms")
    if at.exception:
        print("page raised:", [e.value for e in at.exception])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--url", default=os.environ.get("REDIS_URL"), help="a Redis URL (its database is flushed)")
    parser.add_argument("--keep", action="store_true", help="do not flush the database at the end")
    args = parser.parse_args()
    os.environ.setdefault("LAB_TIME_SCALE", "0.05")
    os.environ.setdefault("LAB_STATE_DIR", tempfile.mkdtemp(prefix="lab-bench-"))
    broker = None
    if args.url:
        url = args.url
    else:
        broker = EmbeddedBroker(write_url=False).start()
        url = broker.url
    conn = redis.Redis.from_url(url)
    conn.flushdb()
    kind = "embedded broker (fakeredis over TCP)" if broker else url
    print(f"broker: {kind}; submitting and running {args.jobs:,} real noop jobs ...", flush=True)
    took = fill(conn, args.jobs)
    print(f"{args.jobs:,} jobs ran in {took:.1f} s; the global stream holds {conn.xlen('lab:events'):,} events\n")
    print("-- the board's reader (Board.update + what the page asks of it)")
    reader_ticks(conn)
    print("\n-- the whole live-board fragment under Streamlit's AppTest")
    fragment_ticks(url)
    if not args.keep:
        conn.flushdb()
    if broker:
        broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
