"""The lifecycle event log: every transition of every job, in Redis Streams.

Each event is appended atomically (one Lua script) to the job's own stream and
to the capped global stream, with the *same* stream id in both, so a client can
resume either with ``Last-Event-ID``. Reading a job's stream is enough to
replay its whole life (:func:`replay`).

Events and the state each leaves the job in:

==================  =========  ======================================================
event               state      meaning (parcel picture)
==================  =========  ======================================================
enqueued            pending    parcel handed in, tracking number issued
started             running    a courier picked it up (attempt N)
progress            running    a tracking scan on the way
retry_scheduled     pending    delivery failed, redelivery booked after ``delay``
timed_out           running    the attempt ran past its time limit (verdict follows)
abandoned           running    the courier vanished mid-delivery (verdict follows)
completed           completed  signed for
failed              failed     delivery failed for good (``reason``, ``error``)
cancelled           failed     the sender called it off (reason ``cancelled``)
dead_lettered       failed     sent to the returns centre (退件处理中心)
redriven            failed     the returns centre sent a new parcel (``new_id``)
discarded           failed     the returns centre threw it away
duplicate_delivery  (kept)     a courier taken for lost turns up after the parcel went
                               out again: its late end (``late_event``) is not recorded
==================  =========  ======================================================
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from . import keys
from .settings import settings
from .states import UNKNOWN, is_terminal, validate_sequence

EVENT_TYPES = (
    "enqueued",
    "started",
    "progress",
    "retry_scheduled",
    "timed_out",
    "abandoned",
    "completed",
    "failed",
    "cancelled",
    "dead_lettered",
    "redriven",
    "discarded",
    "duplicate_delivery",
)


ANNOTATIONS = frozenset({"dead_lettered", "redriven", "discarded", "duplicate_delivery"})
"""Events recorded after a terminal state; they never change it."""

# Terminal states are final: once a job is completed or failed, only
# annotations are appended; a late event (a cancel racing a completion) is dropped.
_APPEND_LUA = """
local unpack = unpack or table.unpack
local current = redis.call('HGET', KEYS[3], ARGV[2])
if (current == 'completed' or current == 'failed') and ARGV[7] ~= '1' then
  return {'', 0, redis.call('EXISTS', KEYS[5])}
end
local seq = redis.call('XLEN', KEYS[2]) + 1
local fields = {'job_id', ARGV[2], 'seq', tostring(seq)}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
local owner = redis.call('HGET', KEYS[6], ARGV[2])
if owner then
  fields[#fields + 1] = 'student'
  fields[#fields + 1] = owner
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
local ok = redis.pcall('XADD', KEYS[2], id, unpack(fields))
if type(ok) == 'table' and ok.err then
  id = redis.call('XADD', KEYS[2], '*', unpack(fields))
end
redis.call('EXPIRE', KEYS[2], ARGV[6])
if ARGV[7] ~= '1' then redis.call('HSET', KEYS[3], ARGV[2], ARGV[3]) end
if ARGV[4] == '1' then redis.call('ZADD', KEYS[4], ARGV[5], ARGV[2]) end
return {id, seq, redis.call('EXISTS', KEYS[5])}
"""

# The index sweep: KEYS are the job index, the state index and the owners, then each job's stream and RQ record;
# ARGV the job ids. A job none of whose two is left is dropped from the three, in the same step as the check.
_FORGET_LUA = """
local gone = 0
for i, id in ipairs(ARGV) do
  if redis.call('EXISTS', KEYS[2 + 2 * i], KEYS[3 + 2 * i]) == 0 then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    gone = gone + 1
  end
end
return gone
"""

_scripts: dict[tuple[int, str], Any] = {}


def _maxlen() -> int:
    return settings().events_maxlen


def _ttl() -> int:
    return settings().event_ttl


def _script(conn: redis.Redis, lua: str = _APPEND_LUA) -> Any:
    key = (id(conn.connection_pool), lua)
    script = _scripts.get(key)
    if script is None:
        script = _scripts[key] = conn.register_script(lua)
    return script


@dataclass
class Event:
    """One recorded transition."""

    id: str
    job_id: str
    seq: int
    event: str
    state: str
    rq_status: str
    attempt: int
    worker: str
    ts: float
    task: str
    message: str
    progress: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A flat JSON-friendly dict (the shape the API and the dashboard send)."""
        out: dict[str, Any] = {
            "id": self.id,
            "job_id": self.job_id,
            "seq": self.seq,
            "event": self.event,
            "state": self.state,
            "rq_status": self.rq_status,
            "attempt": self.attempt,
            "worker": self.worker,
            "ts": self.ts,
            "task": self.task,
            "message": self.message,
            "progress": self.progress,
        }
        for name, value in self.data.items():
            out.setdefault(name, value)
        return out

    @property
    def terminal(self) -> bool:
        return is_terminal(self.state)


def _prepare(
    job_id: str,
    event: str,
    state: str,
    task: str,
    rq_status: str,
    attempt: int,
    worker: str,
    message: str,
    progress: dict[str, Any] | None,
    ts: float | None,
    data: dict[str, Any],
) -> tuple[list[str], list[Any]]:
    """The append script's keys and arguments for one event."""
    if event not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event!r}")
    now = time.time() if ts is None else ts
    fields: list[str] = [
        "event", event,
        "state", state,
        "rq_status", rq_status,
        "attempt", str(attempt),
        "worker", worker,
        "ts", repr(now),
        "task", task,
        "message", message,
    ]  # fmt: skip
    if progress is not None:
        fields += ["progress", json.dumps(progress)]
    if data:
        fields += ["data", json.dumps(data, default=str)]
    args = [
        _maxlen(), job_id, state, "1" if event == "enqueued" else "0", repr(now), _ttl(),
        "1" if event in ANNOTATIONS else "0", *fields,
    ]  # fmt: skip
    script_keys = [
        keys.GLOBAL_STREAM, keys.job_stream(job_id), keys.JOB_STATES, keys.JOB_INDEX, keys.cancel_flag(job_id), keys.OWNERS,
    ]  # fmt: skip
    return script_keys, args


def emit(
    conn: redis.Redis,
    job_id: str,
    event: str,
    state: str,
    *,
    task: str = "",
    rq_status: str = "",
    attempt: int = 0,
    worker: str = "",
    message: str = "",
    progress: dict[str, Any] | None = None,
    ts: float | None = None,
    also: Callable[[Any], Any] | None = None,
    **data: Any,
) -> tuple[str, int]:
    """Append one event to the job's stream and the global stream; return (id, seq).

    Returns ``("", 0)`` when the event was dropped because the job is already in
    a terminal state (terminal states are final). ``also(pipeline)`` may queue
    more commands to go in the same round trip (``progress()`` saves the job's
    meta that way).
    """
    script_keys, args = _prepare(job_id, event, state, task, rq_status, attempt, worker, message, progress, ts, data)
    if also is None:
        event_id, seq, cancel_requested = _script(conn)(keys=script_keys, args=args)
    else:
        script = _script(conn)
        with conn.pipeline(transaction=False) as pipe:
            also(pipe)
            # EVALSHA by hand: a Script in a pipeline costs a SCRIPT EXISTS round trip on every execute
            pipe.execute_command("EVALSHA", script.sha, len(script_keys), *script_keys, *args)
            reply = pipe.execute(raise_on_error=False)[-1]
        if isinstance(reply, redis.exceptions.NoScriptError):  # a fresh or flushed server: load it and append
            reply = script(keys=script_keys, args=args)
        elif isinstance(reply, Exception):
            raise reply
        event_id, seq, cancel_requested = reply
    if cancel_requested and event in {"started", "progress"}:  # only a running job acts on it
        _cancel_seen.add(job_id)
    return _text(event_id), int(seq)


_cancel_seen: set[str] = set()


def append_command(
    conn: redis.Redis, job_id: str, event: str, state: str, **fields: Any
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The raw ``EVALSHA`` that appends one event, for a pipeline or a line of its own; and the :func:`emit` call
    that does the same (for when the raw one meets a server without the script, or no server).

    Its time is taken now, not when the command runs.
    """
    fields.setdefault("ts", time.time())
    names = ("task", "rq_status", "attempt", "worker", "message", "progress", "ts")
    named = {name: fields.pop(name, default) for name, default in zip(names, ("", "", 0, "", "", None, None), strict=True)}
    script_keys, args = _prepare(job_id, event, state, data=fields, **named)
    command = ("EVALSHA", _script(conn).sha, len(script_keys), *script_keys, *args)
    return command, {"job_id": job_id, "event": event, "state": state, **named, **fields}


def append_reply(reply: Any, call: dict[str, Any], conn: redis.Redis) -> tuple[str, int]:
    """(id, seq) from a raw append's reply; an error reply (``NOSCRIPT``) is appended again the ordinary way."""
    if isinstance(reply, Exception):
        return emit(conn, **call)
    event_id, seq, cancel_requested = reply
    if cancel_requested and call["event"] in {"started", "progress"}:
        _cancel_seen.add(call["job_id"])
    return _text(event_id), int(seq)


class DeferredWriter:
    """Appends whose reply is read later: a job's last event costs a send, not a round trip.

    A worker's ``completed`` needs no answer before the worker goes on (the job
    has ended, nothing depends on the reply), so it is sent on a connection of
    its own and its reply read at the next :meth:`collect` (the worker calls it
    before its next job's ``started``). The command is in Redis's hands once
    sent, so a worker that dies after sending loses nothing; an append that
    failed (Redis away) is retried through :func:`emit` when collected, and one
    that cannot be sent is appended with :func:`emit` at once. One per process
    and connection pool; not for threads that share it (a worker's main loop).
    """

    def __init__(self, conn: redis.Redis) -> None:
        self.conn = conn
        self._connection: Any = None
        self._pending: list[tuple[int, tuple[tuple[Any, ...], ...], dict[str, Any]]] = []

    def emit(self, job_id: str, event: str, state: str, *, before: Iterable[tuple[Any, ...]] = (), **fields: Any) -> None:
        """Send ``event`` (after the raw commands ``before``); its reply is read by :meth:`collect`."""
        command, call = append_command(self.conn, job_id, event, state, **fields)
        before = tuple(before)
        commands = [*before, command]
        try:
            if self._connection is None:
                self._connection = self.conn.connection_pool.get_connection()
                # a new line may reach a restarted server: teach it the script first, unwaited (a NOSCRIPT
                # would leave the event for the next collect(), which an idle worker may not reach for long)
                commands.insert(0, ("SCRIPT", "LOAD", _APPEND_LUA))
            self._connection.send_packed_command(self._connection.pack_commands(commands))
        except (redis.RedisError, OSError):
            self._drop()
            self._append_now(before, call)
            return
        self._pending.append((len(commands), before, call))

    def collect(self) -> int:
        """Read the replies of the appends sent so far; re-append any that failed. Returns how many were read."""
        pending, self._pending = self._pending, []
        for count, before, call in pending:
            try:
                replies = [self._reply() for _ in range(count)]
            except Exception:  # noqa: BLE001 - a dropped line: redis-py raises ConnectionError, or worse once disconnected
                self._drop()
                replies = [redis.ConnectionError("the reply never came")]
            if any(isinstance(reply, Exception) for reply in replies):  # the commands before are idempotent
                self._append_now(before, call)  # the log must not miss it: append it the ordinary way
                continue
            append_reply(replies[-1], call, self.conn)
        return len(pending)

    def _append_now(self, before: Iterable[tuple[Any, ...]], call: dict[str, Any]) -> None:
        """The commands and the append the ordinary way, waited (the line failed or could not be sent)."""
        for command in before:
            self.conn.execute_command(*command)
        emit(self.conn, **call)

    def _reply(self) -> Any:
        """One reply; an error reply (NOSCRIPT after a flush) is returned, the line stays in step."""
        try:
            return self._connection.read_response(disable_decoding=True)
        except redis.ResponseError as error:
            return error

    def _drop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.disconnect()
            self.conn.connection_pool.release(self._connection)
        self._connection = None


def cancel_requested_at_last_emit(job_id: str) -> bool:
    """Whether the job's cancel flag was set when this process last appended an event for it.

    The append script reads the flag in the same round trip, so a worker can
    check for a cancel without asking Redis again.
    """
    if job_id in _cancel_seen:
        _cancel_seen.discard(job_id)
        return True
    return False


def tags(meta: dict[str, Any]) -> dict[str, Any]:
    """Extra fields every event of a job carries (its engine, the batch it belongs to), from its meta.

    (Its student, in a classroom, is added by the append script from ``lab:owners``.)
    """
    out = {"engine": meta["engine"]} if meta.get("engine") else {}
    return {**out, "batch": meta["batch"]} if meta.get("batch") else out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def parse(event_id: bytes | str, raw: dict[Any, Any]) -> Event:
    """Turn one stream entry into an :class:`Event`."""
    fields = {_text(k): _text(v) for k, v in raw.items()}
    return Event(
        id=_text(event_id),
        job_id=fields.get("job_id", ""),
        seq=int(fields.get("seq", 0) or 0),
        event=fields.get("event", ""),
        state=fields.get("state", UNKNOWN),
        rq_status=fields.get("rq_status", ""),
        attempt=int(fields.get("attempt", 0) or 0),
        worker=fields.get("worker", ""),
        ts=float(fields.get("ts", 0) or 0),
        task=fields.get("task", ""),
        message=fields.get("message", ""),
        progress=json.loads(fields["progress"]) if fields.get("progress") else None,
        data={**(json.loads(fields["data"]) if fields.get("data") else {}), **_student(fields)},
    )


def _student(fields: dict[str, str]) -> dict[str, str]:
    return {"student": fields["student"]} if fields.get("student") else {}


def job_events(conn: redis.Redis, job_id: str, after: str | None = None) -> list[Event]:
    """The job's events in order; with ``after``, only those after that event id."""
    start = f"({after}" if after else "-"
    return [parse(i, raw) for i, raw in conn.xrange(keys.job_stream(job_id), min=start)]


def wait_job_events(conn: redis.Redis, job_id: str, after: str = "0-0", block_ms: int = 1000) -> list[Event]:
    """Block up to ``block_ms`` for the job's events after ``after`` (an event id)."""
    reply = conn.xread({keys.job_stream(job_id): after or "0-0"}, block=block_ms)
    return [parse(i, raw) for _, entries in reply or [] for i, raw in entries]


def read_global(conn: redis.Redis, after: str = "0-0", count: int | None = 1000, block_ms: int | None = None) -> list[Event]:
    """Events of all jobs after ``after`` (``"$"`` for only new ones), oldest first."""
    reply = conn.xread({keys.GLOBAL_STREAM: after or "0-0"}, count=count, block=block_ms)
    return [parse(i, raw) for _, entries in reply or [] for i, raw in entries]


def last_global_id(conn: redis.Redis) -> str:
    """Id of the newest event in the global stream (``0-0`` when empty)."""
    entries = conn.xrevrange(keys.GLOBAL_STREAM, count=1)
    return _text(entries[0][0]) if entries else "0-0"


def current_state(conn: redis.Redis, job_id: str) -> str | None:
    """The job's state as the event log last recorded it."""
    value = conn.hget(keys.JOB_STATES, job_id)
    return _text(value) if value is not None else None


def forget_expired(conn: redis.Redis, *, now: float | None = None, limit: int = 10_000, page: int = 500) -> int:
    """Drop the job index's, the state index's and the owners' entries of the jobs that have expired; how many.

    These hold one entry a job and have no TTL of their own, so they would grow
    for ever. A job has expired once its event stream (``LAB_EVENT_TTL`` after
    its last event) and RQ's record (``LAB_RESULT_TTL`` after it finished) are
    both gone: what :func:`labs.jobs.job_view` then calls an unknown job, so
    counts, which read the state index, stay what ``GET /tasks?state=`` lists.
    Only entries enqueued more than ``LAB_EVENT_TTL`` ago can be due; at most
    ``limit`` of them, oldest first, are looked at (a live one is stepped over).
    """
    script = _script(conn, _FORGET_LUA)
    horizon = (time.time() if now is None else now) - _ttl()
    dropped = offset = seen = 0
    while seen < limit:
        ids = [_text(raw) for raw in conn.zrangebyscore(keys.JOB_INDEX, "-inf", horizon, start=offset, num=page)]
        if not ids:
            break
        seen += len(ids)
        job_keys = [k for job_id in ids for k in (keys.job_stream(job_id), keys.rq_job(job_id))]
        gone = int(script(keys=[keys.JOB_INDEX, keys.JOB_STATES, keys.OWNERS, *job_keys], args=ids))
        dropped += gone
        offset += len(ids) - gone  # the live ones stay in front: the next page starts after them
    return dropped


def state_counts(conn: redis.Redis) -> dict[str, int]:
    """How many jobs are in each state, from the event log's state index (expired jobs dropped first)."""
    forget_expired(conn, limit=1000)
    counts: dict[str, int] = {}
    for _, value in conn.hscan_iter(keys.JOB_STATES, count=2000):
        state = _text(value)
        counts[state] = counts.get(state, 0) + 1
    return counts


@dataclass
class Replay:
    """A job's life rebuilt from its events alone."""

    job_id: str
    task: str = ""
    state: str = UNKNOWN
    attempts: int = 0
    progress: dict[str, Any] | None = None
    retry_delays: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    reason: str = ""
    dead_lettered: bool = False
    redriven_to: str | None = None
    redrive_of: str | None = None
    path: list[str] = field(default_factory=list)
    transitions: list[tuple[str, str, float]] = field(default_factory=list)


def replay(events: Iterable[Event]) -> Replay:
    """Rebuild a job's life from its events (validates the state machine too)."""
    events = list(events)
    if not events:
        raise ValueError("no events to replay")
    validate_sequence([e.state for e in events])
    result = Replay(job_id=events[0].job_id)
    for event in events:
        result.task = event.task or result.task
        if not result.path or result.path[-1] != event.state:
            result.path.append(event.state)
            result.transitions.append((event.event, event.state, event.ts))
        result.state = event.state
        if event.event == "started":
            result.attempts = max(result.attempts, event.attempt)
        if event.progress is not None:
            result.progress = event.progress
        if event.event == "retry_scheduled":
            result.retry_delays.append(float(event.data.get("delay", 0)))
        if event.data.get("error"):
            result.errors.append(str(event.data["error"]))
        if event.data.get("reason"):
            result.reason = str(event.data["reason"])
        if event.event == "dead_lettered":
            result.dead_lettered = True
        if event.event == "redriven":
            result.redriven_to = event.data.get("new_id")
        if event.event == "enqueued" and event.data.get("redrive_of"):
            result.redrive_of = event.data["redrive_of"]
    return result
