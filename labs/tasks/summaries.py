"""Scenario 3's job: write an extractive summary into a real database (SQLite in the state folder).

The client polls that database (:mod:`labs.scenarios.summaries`), not the queue.
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

from ..clock import sleep
from ..embedder import tokenize
from ..job_context import current_job
from ..progress import progress
from ..settings import state_dir


def db_path() -> Path:
    return state_dir() / "summaries.sqlite3"


@contextmanager
def summaries_db(path: Path | None = None) -> Iterator[sqlite3.Connection]:
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


def summarize_text(text: str, sentences: int = 2) -> str:
    """Extractive summary: the sentences whose words are most frequent in the whole text."""
    parts = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
    freq = Counter(tokenize(text))
    ranked = sorted(range(len(parts)), key=lambda i: -sum(freq[w] for w in tokenize(parts[i])) / (1 + len(parts[i]) ** 0.5))
    keep = sorted(ranked[:sentences])
    return " ".join(parts[i] for i in keep)


def write_summary(batch: str, item: str, title: str, text: str, worker: str = "") -> dict[str, Any]:
    summary = summarize_text(text)
    with summaries_db() as db:
        db.execute(
            "INSERT OR REPLACE INTO summaries VALUES (?, ?, ?, ?, ?, ?, ?)",
            (batch, item, title, summary, len(summary.split()), worker, time.time()),
        )
    return {"item": item, "title": title, "summary": summary}


def summarize(item: str, title: str, text: str, duration: float = 0.5) -> dict[str, Any]:
    """Write an extractive summary of ``text`` into the summaries database."""
    job = current_job()
    progress(0, 1, f"summarising {title}")
    sleep(duration)
    row = write_summary(job.meta.get("batch", "") if job else "", item, title, text, worker=job.worker if job else "")
    progress(1, 1, f"saved summary of {title}")
    return row
