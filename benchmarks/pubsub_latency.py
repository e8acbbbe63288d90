"""Pub/sub delivery and BLPOP wake-up latency: the embedded broker, and a Redis server for comparison.

    python benchmarks/pubsub_latency.py                                         # the embedded broker only
    python benchmarks/pubsub_latency.py --redis-url redis://127.0.0.1:6379/14   # and that Redis

RQ sends its worker commands (``stop-job``, ``shutdown``) over pub/sub, to a
subscriber that listens as this one does (``run_in_thread(sleep_time=0.2)``),
with ``--idle`` other connections open and a quarter of them subscribed too.
Prints the median, 90th percentile and maximum of ``--rounds`` deliveries, and
first, for the embedded broker (which runs in this process), the CPU it uses
while the ``--idle`` connections do nothing for 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid

import redis

from labs.broker import EmbeddedBroker


def _figures(delays: list[float]) -> str:
    ms = sorted(d * 1000 for d in delays)
    return f"median {statistics.median(ms):.1f} ms, p90 {ms[int(len(ms) * 0.9)]:.1f} ms, max {ms[-1]:.1f} ms"


def pubsub_delays(url: str, rounds: int) -> list[float]:
    channel = f"lab:bench:pubsub:{uuid.uuid4().hex[:8]}"
    got, received = threading.Event(), [0.0]

    def handler(_message: object) -> None:
        received[0] = time.perf_counter()
        got.set()

    pubsub = redis.Redis.from_url(url).pubsub()
    pubsub.subscribe(**{channel: handler})
    thread = pubsub.run_in_thread(sleep_time=0.2, daemon=True)
    publisher = redis.Redis.from_url(url)
    time.sleep(0.3)
    delays = []
    for _ in range(rounds):
        got.clear()
        sent = time.perf_counter()
        publisher.publish(channel, "x")
        got.wait(2)
        delays.append(received[0] - sent)
        time.sleep(0.023)
    thread.stop()
    thread.join(2)
    return delays


def blpop_delays(url: str, rounds: int) -> list[float]:
    key = f"lab:bench:blpop:{uuid.uuid4().hex[:8]}"
    pusher = redis.Redis.from_url(url)
    delays = []
    for _ in range(rounds):
        woke = [0.0]

        def pop(woke: list[float] = woke) -> None:
            redis.Redis.from_url(url).blpop([key], 2)
            woke[0] = time.perf_counter()

        waiter = threading.Thread(target=pop)
        waiter.start()
        time.sleep(0.03)
        sent = time.perf_counter()
        pusher.rpush(key, 1)
        waiter.join()
        delays.append(woke[0] - sent)
    return delays


def measure(name: str, url: str, idle: int, rounds: int, *, in_process: bool = False) -> None:
    others = [redis.Redis.from_url(url) for _ in range(idle)]
    for conn in others:
        conn.ping()
    print(f"{name} ({idle} idle connections)")
    if in_process:
        time.sleep(1)
        started = time.process_time()
        time.sleep(5)
        print(f"  CPU while they idle: {(time.process_time() - started) / 5 * 100:.1f} % of a core")
    listeners = []
    for i in range(idle // 4):
        pubsub = redis.Redis.from_url(url).pubsub()
        pubsub.subscribe(**{f"lab:bench:idle:{i}": lambda _m: None})
        listeners.append(pubsub.run_in_thread(sleep_time=0.2, daemon=True))
    print(f"  pub/sub: {_figures(pubsub_delays(url, rounds))}")
    print(f"  BLPOP:   {_figures(blpop_delays(url, rounds))}", flush=True)
    for listener in listeners:
        listener.stop()
        listener.join(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", help="also measure this Redis server")
    parser.add_argument("--idle", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    with EmbeddedBroker(write_url=False) as broker:
        measure("embedded broker", broker.url, args.idle, args.rounds, in_process=True)
    if args.redis_url:
        measure("Redis", args.redis_url, args.idle, args.rounds)


if __name__ == "__main__":
    main()
