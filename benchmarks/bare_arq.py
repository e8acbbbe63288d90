"""Bare ARQ for benchmarks/throughput.py --engine arq: one no-op coroutine, no lab code at all.

    python benchmarks/bare_arq.py fill URL N        # N no-op jobs on the queue
    python benchmarks/bare_arq.py work URL MAX_JOBS POLL_DELAY   # a burst worker that drains it

Same broker, JSON (ARQ pickles by default; the lab never does), ``max_jobs`` and ``poll_delay`` as the
lab's side; none of the lab's hooks, records or threads.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from arq import Worker, create_pool
from arq.connections import RedisSettings

QUEUE = "bench-bare-arq"


def dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data, default=str).encode()


async def noop(ctx: dict[str, Any], value: Any = None) -> Any:
    return value


async def fill(url: str, n: int) -> list[str]:
    pool = await create_pool(RedisSettings.from_dsn(url), default_queue_name=QUEUE, job_serializer=dumps,
                             job_deserializer=json.loads)  # fmt: skip
    try:
        return [(await pool.enqueue_job("noop", value=i)).job_id for i in range(n)]  # type: ignore[union-attr]
    finally:
        await pool.aclose()


def work(url: str, max_jobs: int, poll_delay: float) -> None:
    worker = Worker(functions=[noop], queue_name=QUEUE, redis_settings=RedisSettings.from_dsn(url), burst=True,
                    max_jobs=max_jobs, poll_delay=poll_delay, job_serializer=dumps, job_deserializer=json.loads,
                    keep_result=3600, handle_signals=False)  # fmt: skip
    worker.run()


if __name__ == "__main__":
    if sys.argv[1] == "fill":
        ids = asyncio.run(fill(sys.argv[2], int(sys.argv[3])))
        print("\n".join(ids))
    else:
        work(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
