"""Where a set of jobs stands according to the event log: counts per state, and the ids lost or stuck."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis

from .. import events, keys
from ..states import is_terminal


@dataclass
class Accounting:
    """Where a set of jobs stands according to the event log."""

    counts: dict[str, int]
    lost: list[str] = field(default_factory=list)
    """Ids with no event at all: the lab never heard of them."""
    stuck: list[str] = field(default_factory=list)
    """Ids not (yet) in a final state."""

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + len(self.lost)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.stuck


def account(conn: redis.Redis, job_ids: Iterable[str], chunk: int = 1000) -> Accounting:
    """Per-state counts of ``job_ids`` from the event log (:func:`labs.events.current_state`), plus lost and stuck ids."""
    ids = list(job_ids)
    counts: dict[str, int] = {}
    lost: list[str] = []
    stuck: list[str] = []
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        states = conn.hmget(keys.JOB_STATES, part) if part else []  # what events.current_state reads, in one round trip
        for job_id, raw in zip(part, states, strict=True):
            if raw is None:
                lost.append(job_id)
                continue
            state = raw.decode() if isinstance(raw, bytes) else str(raw)
            counts[state] = counts.get(state, 0) + 1
            if not is_terminal(state):
                stuck.append(job_id)
    return Accounting(counts=counts, lost=lost, stuck=stuck)


def wait_terminal(conn: redis.Redis, job_ids: Iterable[str], timeout: float = 60.0, poll: float = 0.2) -> Accounting:
    """Wait until every job is in a final state (or lost), at most ``timeout`` s; return the last accounting."""
    ids = list(job_ids)
    deadline = time.monotonic() + timeout
    while True:
        result = account(conn, ids)
        if not result.stuck or time.monotonic() > deadline:
            return result
        time.sleep(poll)


def event_names(conn: redis.Redis, job_id: str, skip: Iterable[str] = ("progress",)) -> list[str]:
    """The job's event types in order, without ``skip``."""
    skipped = set(skip)
    return [e.event for e in events.job_events(conn, job_id) if e.event not in skipped]


def count_events(conn: redis.Redis, job_ids: Iterable[str], event: str = "completed", page: int = 5000) -> int:
    """How many ``event`` events of ``job_ids`` the global stream holds (what the workers recorded)."""
    wanted = set(job_ids)
    count, start = 0, "-"
    while True:
        entries = conn.xrange(keys.GLOBAL_STREAM, min=start, count=page)
        for _id, raw in entries:
            if raw.get(b"event") == event.encode() and raw.get(b"job_id", b"").decode() in wanted:
                count += 1
        if len(entries) < page:
            return count
        last = entries[-1][0]
        start = "(" + (last.decode() if isinstance(last, bytes) else last)
