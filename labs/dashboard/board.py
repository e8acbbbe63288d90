"""The live board: one incremental reader of the global event stream (the 分拣中心's departures board).

Every refresh tick reads only the events recorded since the last one it saw
(``XREAD`` after the last seen stream id), and folds each into a small per-job
row, the column counts, the throughput window and the attempt segments of the
Gantt chart. Nothing rescans the jobs, so a tick costs what happened since the
last tick, not how many jobs the broker holds.

A tick reads for at most ``budget_s`` seconds; a board opened on a broker with a
long history catches up over a few ticks (:attr:`Board.behind` says so) instead
of freezing the page.

Columns: the four states, with two of them split the way a person sees them::

    pending  running  retrying   completed  failed  dead_lettered
                      (pending,             (failed, in the returns centre)
                       redelivery booked)
"""

from __future__ import annotations

import itertools
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from .. import events, keys
from ..states import State

COLUMNS: tuple[str, ...] = ("pending", "running", "retrying", "completed", "failed", "dead_lettered")
OTHER = "unknown"
"""Column of a job whose state the board does not know (drawn generically)."""

# The column a job is in after each event type. ``timed_out`` and ``abandoned``
# only mark how an attempt ended (the verdict follows), so they keep the column.
_COLUMN_AFTER: dict[str, str] = {
    "enqueued": "pending",
    "started": "running",
    "progress": "running",
    "retry_scheduled": "retrying",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "failed",
    "dead_lettered": "dead_lettered",
    "redriven": "failed",
    "discarded": "failed",
}
_ATTEMPT_ENDS: dict[str, str] = {
    "retry_scheduled": "retry",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "timed_out": "timed_out",
    "abandoned": "abandoned",
}
_STATES = {s.value for s in State}


def id_key(stream_id: str) -> tuple[int, int]:
    """A stream id as a sortable pair (``"1700000000000-3"`` -> ``(1700000000000, 3)``)."""
    ms, _, seq = stream_id.partition("-")
    return int(ms or 0), int(seq or 0)


@dataclass(slots=True)
class JobRow:
    """What the board knows about one job (its parcel card)."""

    id: str
    task: str = ""
    column: str = "pending"
    state: str = "pending"
    attempt: int = 0
    worker: str = ""
    percent: float = 0.0
    message: str = ""
    last_event: str = ""
    reason: str = ""
    error: str = ""
    enqueued_at: float = 0.0
    updated_at: float = 0.0
    retry_at: float = 0.0
    redrive_of: str = ""
    redriven_to: str = ""
    student: str = ""
    engine: str = "rq"

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class Segment:
    """One delivery attempt on one worker: a bar of the Gantt chart."""

    job_id: str
    task: str
    attempt: int
    worker: str
    start: float
    end: float | None = None
    outcome: str = "running"

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "task": self.task,
            "attempt": self.attempt,
            "worker": self.worker,
            "start": self.start,
            "end": self.end if self.end is not None else (now or time.time()),
            "outcome": self.outcome,
        }


@dataclass
class Board:
    """Per-session state of the incremental reader (kept in ``st.session_state``)."""

    url: str = ""
    last_id: str = "0-0"
    last_mark: tuple[str, int] = ("", 0)
    """Job id and number of the last event read (to notice a broker that was emptied and refilled)."""
    jobs: dict[str, JobRow] = field(default_factory=dict)
    """Every job seen, least recently updated first (an update moves a job to the end)."""
    by_column: dict[str, dict[str, None]] = field(default_factory=dict)
    """Column -> its job ids, in the order they arrived there (an ordered set)."""
    counts: Counter[str] = field(default_factory=Counter)
    events_read: int = 0
    behind: bool = False
    ticks: int = 0
    last_tick_ms: float = 0.0
    finished: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    """Times of terminal events (pruned to the throughput window when it is measured)."""
    window: float = 10.0
    segments: deque[Segment] = field(default_factory=lambda: deque(maxlen=2000))
    open_segments: dict[str, Segment] = field(default_factory=dict)
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=40))
    """The latest events other than progress scans, newest last."""

    # -- reading ------------------------------------------------------------
    def update(self, conn: redis.Redis, *, budget_s: float = 0.1, chunk: int = 500) -> int:
        """Read and apply the events since the last tick; return how many were applied."""
        started = time.perf_counter()
        if self.last_id != "0-0" and not self._still_there(conn):
            self.reset()  # the last event we read is gone: the broker was emptied or replaced, start again
        applied = 0
        while True:
            batch = events.read_global(conn, after=self.last_id, count=chunk)
            for event in batch:
                self.apply(event)
            if batch:
                self.last_id, self.last_mark = batch[-1].id, (batch[-1].job_id, batch[-1].seq)
            applied += len(batch)
            self.behind = len(batch) == chunk
            if not self.behind or time.perf_counter() - started > budget_s:
                break
        self.events_read += applied
        self.ticks += 1
        self.last_tick_ms = (time.perf_counter() - started) * 1000
        return applied

    def _still_there(self, conn: redis.Redis) -> bool:
        """Whether the stream still holds the last event read (same id, same job, same number)."""
        entries = conn.xrange(keys.GLOBAL_STREAM, min=self.last_id, max=self.last_id, count=1)
        if not entries:
            return False
        event = events.parse(*entries[0])
        return (event.job_id, event.seq) == self.last_mark

    def stream_length(self, conn: redis.Redis) -> int:
        """How many events the global stream holds (to show how far a catch-up got)."""
        return int(conn.xlen(keys.GLOBAL_STREAM))

    def reset(self) -> None:
        """Forget everything read so far (the next update reads the stream from the start)."""
        self.__dict__.update(Board(url=self.url, window=self.window).__dict__)

    # -- folding one event ------------------------------------------------------
    def apply(self, event: events.Event) -> None:
        """Fold one event into the job's row, the counts and the attempt segments."""
        row = self.jobs.pop(event.job_id, None)
        if row is None:
            row = JobRow(id=event.job_id, enqueued_at=event.ts)
        else:
            self._leave(row)
        self.jobs[event.job_id] = row  # now the most recently updated
        if event.state not in _STATES:
            column = OTHER  # a state this board does not know: drawn generically
        elif event.event == "progress" and event.state != State.RUNNING.value:
            column = row.column
        else:
            column = _COLUMN_AFTER.get(event.event) or (row.column if event.state == row.state else event.state)
        row.column = column
        row.state = event.state
        row.task = event.task or row.task
        row.attempt = max(row.attempt, event.attempt)
        row.worker = event.worker or row.worker
        row.last_event = event.event
        row.updated_at = event.ts
        data = event.data
        row.student = data.get("student") or row.student
        row.engine = data.get("engine") or row.engine
        if event.progress is not None:
            row.percent = float(event.progress.get("percent", 0.0) or 0.0)
            row.message = str(event.progress.get("message", ""))
        elif event.message:
            row.message = event.message
        if event.event == "started":
            row.percent, row.retry_at = 0.0, 0.0
        if data.get("reason"):
            row.reason = str(data["reason"])
        if data.get("error"):
            row.error = str(data["error"])
        if event.event == "retry_scheduled":
            row.retry_at = event.ts + float(data.get("delay_seconds", 0) or 0)
        if event.event == "enqueued" and data.get("redrive_of"):
            row.redrive_of = str(data["redrive_of"])
        if event.event == "redriven":
            row.redriven_to = str(data.get("new_id", ""))
        self._enter(row)
        self._track_attempt(event)
        if event.event in ("completed", "failed", "cancelled"):
            self.finished.append(event.ts)
        if event.event != "progress":
            self.recent.append(event.to_dict())

    def _leave(self, row: JobRow) -> None:
        self.counts[row.column] -= 1
        self.by_column.get(row.column, {}).pop(row.id, None)

    def _enter(self, row: JobRow) -> None:
        self.counts[row.column] += 1
        self.by_column.setdefault(row.column, {})[row.id] = None

    def _track_attempt(self, event: events.Event) -> None:
        if event.event == "started":
            self._close(event.job_id, event.ts, "abandoned")  # a start without an end: its courier vanished
            self.open_segments[event.job_id] = Segment(event.job_id, event.task, event.attempt, event.worker, event.ts)
        elif event.event in _ATTEMPT_ENDS:
            self._close(event.job_id, event.ts, _ATTEMPT_ENDS[event.event])

    def _close(self, job_id: str, ts: float, outcome: str) -> None:
        segment = self.open_segments.pop(job_id, None)
        if segment is not None:
            segment.end, segment.outcome = ts, outcome
            self.segments.append(segment)

    def _prune(self, now: float) -> None:
        while self.finished and self.finished[0] < now - self.window:
            self.finished.popleft()

    # -- what the page shows ------------------------------------------------------
    @property
    def total(self) -> int:
        return len(self.jobs)

    def column_counts(self) -> dict[str, int]:
        """Jobs per column (the six columns, plus ``unknown`` when there are any)."""
        out = {column: self.counts.get(column, 0) for column in COLUMNS}
        if self.counts.get(OTHER):
            out[OTHER] = self.counts[OTHER]
        return out

    def state_counts(self) -> dict[str, int]:
        """Jobs per state, the four of ``GET /tasks?state=`` (``retrying`` is pending, ``dead_lettered`` is failed),
        plus ``unknown`` when there are any."""
        out = {state: 0 for state in sorted(_STATES, key=COLUMNS.index)}
        for row in self.jobs.values():
            state = row.state if row.state in _STATES else OTHER
            out[state] = out.get(state, 0) + 1
        return out

    def column_jobs(self, column: str, limit: int = 8) -> list[JobRow]:
        """The jobs that arrived in ``column`` most recently, newest first."""
        ids = self.by_column.get(column, {})
        return [self.jobs[job_id] for job_id in itertools.islice(reversed(ids), limit)]

    def latest(self, limit: int = 200) -> Iterator[JobRow]:
        """The most recently updated jobs, newest first."""
        return (self.jobs[job_id] for job_id in itertools.islice(reversed(self.jobs), limit))

    def throughput(self, now: float | None = None) -> float:
        """Jobs finished (completed, failed or cancelled) per second over the last ``window`` seconds."""
        now = time.time() if now is None else now
        self._prune(now)
        return len(self.finished) / self.window

    def gantt_rows(self, limit: int = 300, now: float | None = None) -> list[dict[str, Any]]:
        """The latest attempt bars: finished ones and the ones still running."""
        now = time.time() if now is None else now
        closed = list(itertools.islice(reversed(self.segments), limit))
        running = [s.to_dict(now) for s in self.open_segments.values()][-limit:]
        return running + [s.to_dict(now) for s in closed]
