"""Bare Celery for benchmarks/throughput.py --engine celery: one no-op task, no lab code at all.

Same broker, JSON, acks_late and prefetch 1 as the lab's Celery app; none of the lab's signals,
records or result options.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

app = Celery("bare", broker=os.environ["BENCH_BROKER"], backend=os.environ["BENCH_BROKER"])
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_default_queue="bench-bare",
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="bench.noop")
def noop(value: Any = None) -> Any:
    return value
