"""Scenario 3 — 批量内容生成（100篇摘要）: queue + database polling.

Workers write extractive summaries into a real database (SQLite, a file in the
lab's state folder) and the client polls it every 5 s (scaled), like checking
an order page now and then (定期查看订单状态). Polling is simple and needs no
open connection, but it only learns of a summary at the next poll: the
``staleness`` of each observation shows that trade-off against push.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from ..clock import scaled
from ..embedder import tokenize
from ..samples import TOPICS
from ..settings import state_dir
from . import batches

POLL_SECONDS = 5.0


def db_path() -> Path:
    return state_dir() / "summaries.sqlite3"


@contextmanager
def _db(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path or db_path(), timeout=30)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS summaries (batch TEXT, item TEXT, title TEXT, summary TEXT,"
            " words INTEGER, worker TEXT, written_at REAL, PRIMARY KEY (batch, item))"
        )
        yield db
        db.commit()
    finally:
        db.close()


def article(n: int) -> dict[str, str]:
    """A deterministic sample article (title and text) built from the sample corpus topics."""
    topic = TOPICS[n % len(TOPICS)]
    facts = [topic.facts[(n + i) % len(topic.facts)] for i in range(len(topic.facts))]
    return {"title": f"{topic.title} #{n + 1}", "text": " ".join(facts)}


def summarize_text(text: str, sentences: int = 2) -> str:
    """Extractive summary: the sentences whose words are most frequent in the whole text."""
    parts = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
    freq = Counter(tokenize(text))
    ranked = sorted(range(len(parts)), key=lambda i: -sum(freq[w] for w in tokenize(parts[i])) / (1 + len(parts[i]) ** 0.5))
    keep = sorted(ranked[:sentences])
    return " ".join(parts[i] for i in keep)


def write_summary(batch: str, item: str, title: str, text: str, worker: str = "") -> dict[str, Any]:
    summary = summarize_text(text)
    with _db() as db:
        db.execute(
            "INSERT OR REPLACE INTO summaries VALUES (?, ?, ?, ?, ?, ?, ?)",
            (batch, item, title, summary, len(summary.split()), worker, time.time()),
        )
    return {"item": item, "title": title, "summary": summary}


def start(conn: redis.Redis, n: int = 100, student: str | None = None) -> str:
    """Submit ``n`` summary jobs as one batch; return the batch id."""
    params = [{"item": f"{i:03d}", **article(i)} for i in range(n)]
    return batches.create(conn, "summaries", "summarize", params, labels=[p["title"] for p in params], student=student)


def count(batch: str) -> int:
    with _db() as db:
        return int(db.execute("SELECT COUNT(*) FROM summaries WHERE batch = ?", (batch,)).fetchone()[0])


def rows(batch: str, limit: int = 1000) -> list[dict[str, Any]]:
    with _db() as db:
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
        with _db() as db:
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
