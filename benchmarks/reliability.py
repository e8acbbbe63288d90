"""Break the lab on purpose and count what survived: worker kills, a Redis restart, load, bad input.

    python benchmarks/reliability.py                          # 10 kills, 1 restart, 5000 jobs, 50 clients
    python benchmarks/reliability.py --kills 20 --jobs 10000 --down 5

Everything runs on a private ``redis-server`` (labs.testing; on a free loopback
port, append-only file synced on every write) with real worker processes and
the API (uvicorn) in its own process:

1. slow jobs with retries; a worker running one is SIGKILLed ``--kills`` times
   (a fresh worker replaces each victim);
2. Redis is stopped for ``--down`` seconds and started again on the same port
   while jobs run, with an SSE client following ``/events`` (it resumes with
   ``Last-Event-ID``; its events are checked against the log: no gap, no duplicate);
3. ``--jobs`` no-op jobs are submitted through ``POST /tasks`` by ``--clients``
   concurrent clients and processed by two SimpleWorkers;
4. the bad inputs of ``labs.testing.bad_input`` (HTTP, WebSocket, a payload crafted in Redis) are fired at the API.

It prints the figures below and exits 1 if a job is lost or stuck, an answer
was a 5xx, or the SSE client's history has a gap or a duplicate. The API's
``503`` answers while Redis was down (by design) are counted apart.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from labs import events
from labs.jobs import cancel
from labs.session import LabSession
from labs.settings import environment as env
from labs.settings import queue_name
from labs.testing.accounting import account, count_events, event_names, wait_terminal
from labs.testing.api_process import ApiServer
from labs.testing.bad_input import fire_bad_inputs, tally
from labs.testing.follower import SseFollower
from labs.testing.kills import kill_workers_mid_job
from labs.testing.load import submit_load
from labs.testing.redis_server import RedisServer
from labs.testing.waiting import wait_until

SLOW = {"steps": 40, "step_seconds": 1}
RETRY = {"max_retries": 3, "base": 0.2}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=10, help="workers SIGKILLed mid-job")
    parser.add_argument("--slow", type=int, default=20, help="slow jobs (with retries) run during the kills and the restart")
    parser.add_argument("--down", type=float, default=2.0, help="seconds Redis stays down")
    parser.add_argument("--jobs", type=int, default=5000, help="no-op jobs submitted through the API")
    parser.add_argument("--clients", type=int, default=50, help="concurrent HTTP clients")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for every job to end")
    args = parser.parse_args()

    state = tempfile.mkdtemp(prefix="lab-reliability-")
    settings = {"LAB_STATE_DIR": state, "LAB_TIME_SCALE": os.environ.get("LAB_TIME_SCALE", "0.05"), "LAB_MAX_UPLOAD_MB": "1"}
    started = time.perf_counter()
    with env(**settings), RedisServer() as server, env(REDIS_URL=server.url):
        print(f"redis-server {server.url} (appendfsync always)   state: {state}   time scale: {settings['LAB_TIME_SCALE']}")
        with ApiServer() as api, LabSession(workers=2, kind="fork", queue=queue_name()) as lab:  # the API's jobs too
            conn = lab.conn
            firehose = SseFollower(api.url).start()
            try:
                wait_until(lambda: 200 in firehose.statuses, 20, what="the SSE client connected")

                # 1. worker kills
                t = time.perf_counter()
                slow_ids = [lab.submit("slow_task", SLOW, retry=RETRY) for _ in range(args.slow)]
                kills = kill_workers_mid_job(lab, args.kills, timeout=120)
                kill_seconds = time.perf_counter() - t

                # 2. Redis restart with jobs in flight
                wait_until(lambda: account(conn, slow_ids).stuck, 30, what="jobs in flight")
                in_flight = len(account(conn, slow_ids).stuck)
                t = time.perf_counter()
                server.restart(down_for=args.down)
                restart_seconds = time.perf_counter() - t
                slow = wait_terminal(conn, slow_ids, timeout=args.timeout)
                recovery_seconds = time.perf_counter() - t

                # 3. load through the API
                for _ in range(2):
                    lab.add_worker(kind="simple")
                load = submit_load(api.url, args.jobs, clients=args.clients)
                t = time.perf_counter()
                loaded = wait_terminal(conn, load.ids, timeout=args.timeout)
                drain_seconds = time.perf_counter() - t
                recorded = count_events(conn, load.ids, "completed")

                # 4. bad input
                target = lab.submit("slow_task", {"steps": 2000, "step_seconds": 1})
                answers = fire_bad_inputs(api.url, conn, target, max_upload_bytes=1024 * 1024)
                cancel(conn, target)
                bad = tally(answers)

                # the SSE client's history against the log
                ids = slow_ids + load.ids
                wait_until(
                    lambda: len([e for e in firehose.events if e["event"] in {"completed", "failed"}]) >= len(ids),
                    60,
                    what="the SSE client saw every end",
                )
            finally:
                firehose.stop()
            sse_mismatch = [
                job_id
                for job_id in slow_ids + load.ids[:500]
                if [e["id"] for e in firehose.events if e["job_id"] == job_id] != [e.id for e in events.job_events(conn, job_id)]
            ]
            abandoned = sum(event_names(conn, job_id).count("abandoned") for job_id in slow_ids)
        total_seconds = time.perf_counter() - started

    lost = len(slow.lost) + len(loaded.lost)
    stuck = len(slow.stuck) + len(loaded.stuck)
    five_xx = load.server_errors + bad["5xx"]
    outage_503 = sum(1 for status in firehose.statuses if status == 503)
    print()
    print(
        f"faults injected      {len(kills) + server.restarts:>8}   ({len(kills)} worker kills, {server.restarts} Redis restart)"
    )
    submitted = len(slow_ids) + args.jobs
    print(f"jobs submitted       {submitted:>8}   ({len(slow_ids)} slow with retries, {args.jobs} no-op via the API)")
    print(f"jobs lost            {lost:>8}   (goal 0)")
    print(f"jobs stuck           {stuck:>8}   (goal 0)")
    print(f"bad inputs tried     {bad['tried']:>8}")
    print(f"4xx answers          {bad['4xx']:>8}   (clear refusals, goal {bad['tried']})")
    print(f"5xx returned         {five_xx:>8}   (goal 0; plus {outage_503} x 503 to the SSE client while Redis was down)")
    print()
    print(f"slow jobs            {slow.counts}   abandoned attempts: {abandoned} (kills: {len(kills)})")
    print(f"no-op jobs           {loaded.counts}   completed events recorded: {recorded}")
    sse = f"{firehose.connections} connections, {len(firehose.events)} events, {len(sse_mismatch)} jobs with a gap/dup"
    print(f"SSE client           {sse}")
    print(f"jobs in flight at the Redis restart: {in_flight}")
    print()
    print(f"kill phase           {kill_seconds:8.1f} s")
    print(f"Redis restart        {restart_seconds:8.1f} s  (down {args.down:g} s)")
    print(f"slow jobs all ended  {recovery_seconds:8.1f} s  after the restart began")
    print(f"submit               {load.seconds:8.1f} s  ({load.rate:.0f} jobs/s from {args.clients} clients)")
    print(f"drain after submit   {drain_seconds:8.1f} s")
    print(f"total                {total_seconds:8.1f} s")
    for answer in answers:
        if not answer.clear_4xx or answer.server_error:
            print(f"  unclear answer: {answer.name}: {answer.status} {answer.message[:100]}")
    failed = lost or stuck or five_xx or sse_mismatch or bad["4xx"] != bad["tried"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
