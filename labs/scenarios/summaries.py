"""Scenario 3 — 批量内容生成（100篇摘要）: queue + database polling.

Workers write extractive summaries into a real database (SQLite, a file in the
lab's state folder) and the client polls it every 5 s (scaled), like checking
an order page now and then (定期查看订单状态). Polling is simple and needs no
open connection, but it only learns of a summary at the next poll: the
``staleness`` of each observation shows that trade-off against push.

The seed runs it on **Celery** (Celery + database polling); any engine writes
the same rows (``engine=``), since the client polls the database, not the queue.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import redis

from ..clock import scaled
from ..samples import TOPICS
from ..tasks.summaries import summaries_db
from . import batches

POLL_SECONDS = 5.0


def article(n: int) -> dict[str, str]:
    """A deterministic sample article (title and text) built from the sample corpus topics."""
    topic = TOPICS[n % len(TOPICS)]
    facts = [topic.facts[(n + i) % len(topic.facts)] for i in range(len(topic.facts))]
    return {"title": f"{topic.title} #{n + 1}", "text": " ".join(facts)}


def start(conn: redis.Redis, n: int = 100, student: str | None = None, engine: str | None = None) -> str:
    """Submit ``n`` summary jobs as one batch on ``engine`` (default ``rq``); return the batch id."""
    params = [{"item": f"{i:03d}", **article(i)} for i in range(n)]
    labels = [p["title"] for p in params]
    return batches.create(conn, "summaries", "summarize", params, labels=labels, student=student, engine=engine)


def count(batch: str) -> int:
    with summaries_db() as db:
        return int(db.execute("SELECT COUNT(*) FROM summaries WHERE batch = ?", (batch,)).fetchone()[0])


def rows(batch: str, limit: int = 1000) -> list[dict[str, Any]]:
    with summaries_db() as db:
        cur = db.execute(
            "SELECT item, title, summary, words, worker, written_at FROM summaries WHERE batch = ? ORDER BY item LIMIT ?",
            (batch, limit),
        )
        names = [c[0] for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def poll(batch: str, total: int, interval: float = POLL_SECONDS, timeout: float = 600) -> Iterator[dict[str, Any]]:
    """Poll the database every ``interval`` demo seconds until ``total`` summaries are in.

    Each observation says when it was taken, how many summaries it saw, and how
    late it learnt of the new ones (``discovery_delay``: seconds between a
    worker writing a summary and this poll seeing it — the price of polling).
    """
    deadline = time.monotonic() + timeout
    started = time.time()
    seen: set[str] = set()
    while True:
        now = time.time()
        with summaries_db() as db:
            found = db.execute("SELECT item, written_at FROM summaries WHERE batch = ?", (batch,)).fetchall()
        delays = [now - written for item, written in found if item not in seen]
        seen.update(item for item, _ in found)
        yield {
            "t": round(now - started, 3),
            "count": len(seen),
            "total": total,
            "percent": round(100.0 * len(seen) / total, 1) if total else 100.0,
            "new": len(delays),
            "discovery_delay": round(max(delays), 3) if delays else None,
        }
        if len(seen) >= total or time.monotonic() > deadline:
            return
        time.sleep(max(0.05, scaled(interval)))
