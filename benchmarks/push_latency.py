"""Push latency: from ``progress()`` in a worker to the client, over SSE, WebSocket and 1 s polling.

    python benchmarks/push_latency.py                      # REDIS_URL if set, else an embedded broker
    REDIS_URL=redis://127.0.0.1:6379/14 python benchmarks/push_latency.py --clients 1,50,200

For each channel and client count, N clients follow the same running
``slow_task`` (the radio picture: one station, N radios) through one API
process (``python -m labs api``, uvicorn) while one forking worker runs the
job. The latency of a progress event at a client is ``receipt time - event.ts``:
``ts`` is stamped by ``progress()`` in the worker's job process when it records
the event, the receipt time when the client (``labs.client``) hands the parsed event
over (all on one machine, one clock). Only events recorded after every client
has connected count. Polling clients ask ``GET /tasks/{id}`` every
``--poll-every`` seconds (ETag / If-None-Match, random phase) and receive an
event at the first answer that contains it. Clients run in this process on
one asyncio loop (``labs.client.AsyncLabClient``: httpx + httpx-sse, websockets), so their own parsing is part
of what is measured. Goal: SSE and WebSocket p99 <= 25 ms at 200 clients over
loopback on a real Redis (rq-dashboard, for comparison, polls every 2.5 s).

The run uses its own queue (``LAB_QUEUE=bench-push-<pid>``) and state folder,
so it does not disturb a lab that shares the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from labs.client import AsyncLabClient, LabClient
from labs.launcher import python_cmd, spawn, stop_process
from labs.ports import free_port

Samples = list[float]


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not happen within {timeout} s (logs: {os.environ['LAB_STATE_DIR']}/logs)")
        time.sleep(0.1)


class Group:
    """The clients of one client process: they record (event ts, receipt time) for every progress event."""

    def __init__(self, api: str, job_id: str, clients: int, ready: Connection) -> None:
        self.api, self.job_id, self.waiting, self.ready = api, job_id, clients, ready
        self.records: list[tuple[float, float]] = []
        self.errors = 0  # polls that failed (a poller just tries again at its next tick)

    def joined(self) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            self.ready.send("ready")  # every client of this process is connected

    def receive(self, event: dict[str, Any], received: float) -> None:
        if event.get("event") == "progress":
            self.records.append((event["ts"], received))


async def sse_client(group: Group, api: AsyncLabClient, every: float) -> None:
    async for message in api.follow(group.job_id):  # until the job's end
        if message.type == "snapshot":
            group.joined()
        elif message.type == "event":
            group.receive(message.data, message.received)


async def ws_client(group: Group, api: AsyncLabClient, every: float) -> None:
    async with api.connect_ws(group.job_id, max_queue=None, ping_interval=None) as call:
        async for message in call:
            if message.type == "snapshot":
                group.joined()
            elif message.type == "event":
                group.receive(message.data, message.received)


async def poll_client(group: Group, api: AsyncLabClient, every: float) -> None:
    etag, seen, joined = None, "0-0", False
    await asyncio.sleep(random.uniform(0, every))  # clients do not poll in step
    while True:
        asked = time.monotonic()
        try:
            answer = await api.get(group.job_id, etag)
        except httpx.TransportError:
            group.errors += 1
            await asyncio.sleep(every)
            continue
        if not joined:
            joined = True
            group.joined()
        if answer.view is not None:
            etag, view = answer.etag, answer.view
            for event in view["events"]:
                if _key(event["id"]) > _key(seen):
                    group.receive(event, answer.received)
            seen = view["last_event_id"] or seen
            if view["state"] in {"completed", "failed"}:
                return
        await asyncio.sleep(max(0.0, every - (time.monotonic() - asked)))


def _key(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


CLIENTS: dict[str, Callable[[Group, AsyncLabClient, float], Awaitable[None]]] = {
    "sse": sse_client,
    "ws": ws_client,
    "poll": poll_client,
}


def client_process(api: str, job_id: str, channel: str, clients: int, every: float, pipe: Connection) -> None:
    """One client process: ``clients`` clients on one asyncio loop; sends its records back through ``pipe``."""

    async def run() -> None:
        group = Group(api, job_id, clients, pipe)
        limits = httpx.Limits(max_connections=clients + 5, max_keepalive_connections=clients + 5)
        async with httpx.AsyncClient(timeout=httpx.Timeout(60, connect=30), limits=limits) as http:
            client = AsyncLabClient(api, timeout=30, http=http)
            await asyncio.gather(*(CLIENTS[channel](group, client, every) for _ in range(clients)))
        pipe.send((group.records, group.errors))

    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        runner(run())
    except Exception as exc:  # report it to the parent instead of dying silently
        pipe.send(f"{channel} client failed: {type(exc).__name__}: {exc}")


def measure(api: str, channel: str, clients: int, job: dict[str, Any], every: float, procs: int) -> tuple[Samples, int]:
    """Latencies (s) of the progress events recorded after every client, in every process, was connected;
    and how many polls failed."""
    with LabClient(api, timeout=30) as client:
        job_id = client.submit(job["task"], job["params"])
    context = multiprocessing.get_context("fork")
    shares = [clients // procs + (i < clients % procs) for i in range(min(procs, clients))]
    pipes, children = [], []
    for share in shares:
        mine, theirs = context.Pipe()
        child = context.Process(target=client_process, args=(api, job_id, channel, share, every, theirs), daemon=True)
        child.start()
        pipes.append(mine)
        children.append(child)
    for pipe in pipes:
        if not pipe.poll(60):
            raise SystemExit("the clients did not connect within 60 s")
        if (message := pipe.recv()) != "ready":
            raise SystemExit(message)
    ready_at = time.time()  # events recorded before this do not count
    records, errors = [], 0
    for pipe in pipes:
        if isinstance(result := pipe.recv(), str):
            raise SystemExit(result)
        records += result[0]
        errors += result[1]
    for child in children:
        child.join(10)
    return [received - ts for ts, received in records if ts > ready_at], errors


def percentile(values: Samples, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,50,200", help="comma-separated client counts")
    parser.add_argument("--channels", default="sse,ws,poll", help="comma-separated: sse, ws, poll")
    parser.add_argument("--steps", type=int, default=60, help="progress events per job")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between progress events")
    parser.add_argument("--poll-every", type=float, default=1.0, help="polling interval in seconds")
    parser.add_argument("--procs", type=int, default=4, help="client processes the clients are spread over")
    parser.add_argument("--api", help="use this running API (and its workers) instead of starting one")
    args = parser.parse_args()
    counts = [int(n) for n in args.clients.split(",")]
    channels = [c.strip() for c in args.channels.split(",")]

    state = Path(tempfile.mkdtemp(prefix="push-latency-"))
    os.environ.update(
        LAB_STATE_DIR=str(state),
        LAB_TIME_SCALE="1",
        LAB_QUEUE=f"bench-push-{os.getpid()}",
        LAB_API_ACCESS_LOG="0",
        LAB_API_LOG_LEVEL="warning",
    )
    procs = []
    try:
        if args.api:
            api, where = args.api.rstrip("/"), f"the API at {args.api}"
        elif os.environ.get("REDIS_URL"):
            where = os.environ["REDIS_URL"]
        else:
            procs.append(spawn(python_cmd("broker"), "broker"))
            wait_until(lambda: (state / "broker.url").exists(), "the embedded broker starting")
            os.environ["REDIS_URL"] = where = (state / "broker.url").read_text().strip()
            where += " (embedded fakeredis)"
        if not args.api:
            port = free_port()
            api = f"http://127.0.0.1:{port}"
            procs.append(spawn(python_cmd("api", "--host", "127.0.0.1", "--port", str(port)), "api"))
            procs.append(spawn(python_cmd("worker", "--fork", "--name", f"bench-push-{os.getpid()}"), "worker"))

        def healthy() -> bool:
            try:
                with LabClient(api, timeout=2) as client:
                    return client.health().get("workers", 0) >= 1
            except (httpx.HTTPError, ValueError):
                return False

        wait_until(healthy, "the API and the worker starting")
        print(f"broker: {where}   one API process, one forking worker, progress every {args.interval:g} s")
        print("(clients follow one slow_task; latency = receipt - the event's ts from progress() in the worker)")
        print(f"{'channel':<10}{'clients':>8}{'samples':>9}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
        for channel in channels:
            for clients in counts:
                job = {"task": "slow_task", "params": {"steps": args.steps, "step_seconds": args.interval}}
                samples, errors = measure(api, channel, clients, job, args.poll_every, args.procs)
                if not samples:
                    print(f"{channel:<10}{clients:>8}{0:>9}   (no event after every client connected: use more --steps)")
                    continue
                ms = [s * 1000 for s in samples]
                print(
                    f"{channel:<10}{clients:>8}{len(ms):>9}{statistics.median(ms):>10.1f}"
                    f"{percentile(ms, 99):>10.1f}{max(ms):>10.1f}" + (f"   ({errors} failed polls)" if errors else ""),
                    flush=True,
                )
        print("(rq-dashboard, for comparison, polls every 2.5 s)")
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
