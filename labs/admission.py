"""Admission control (门口的取号机): what the API checks before a job may enter the sorting centre.

Three limits, checked together by one Lua script, so they hold however many API
processes share the broker, and a request (one job or a batch) is admitted or
refused whole:

=============  ===========================================  ==========================
limit          what it counts                               setting
=============  ===========================================  ==========================
``rate``       jobs a student submitted lately: a token     ``LAB_RATE_LIMIT`` jobs per
               bucket that holds ``LAB_RATE_LIMIT`` and     ``LAB_RATE_PERIOD`` seconds
               refills at that many per period
``active``     the student's jobs pending or running        ``LAB_MAX_ACTIVE``
``depth``      jobs waiting in the lab's queues (RQ's,      ``LAB_MAX_QUEUE_DEPTH``
               its students' and priority queues too,
               Celery's and ARQ's): the centre is full
=============  ===========================================  ==========================

``LAB_ADMISSION``: ``auto`` checks the two per-student limits in classroom mode
(students are who floods a shared server) and the queue depth always; ``on``
checks the per-student limits in an open lab too, keyed by the client's address;
``off`` checks nothing. The instructor is never held by the per-student limits.
The open lab's defaults stay out of the way on purpose: lessons and tests submit
hundreds of jobs in seconds from one address.

The per-student count costs O(the student's active jobs), not O(all jobs): each
admitted job goes into the student's set ``lab:admission:active:<who>``; the script
reads their states from the event log's state index and drops the finished ones
as it counts. A request is admitted with placeholders, which the caller replaces
with the job ids once it has them (:meth:`Ticket.bind`); a placeholder or a job
the event log never heard of counts for :data:`GRACE` seconds, then goes (a submit
that failed half-way). A refusal is :class:`Refused` (the API's 429 with
``Retry-After``) and is counted per student and limit for the dashboard.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import redis

from . import fairness, keys
from .errors import LabError
from .settings import queue_name, settings
from .students import classroom_mode

GRACE = 60.0
"""Seconds an admitted job with no state in the event log yet still counts as active."""
RETRY_LATER = 5
"""``Retry-After`` (seconds) when the cap or the queue depth refuses: nothing says when a job will end."""
LOG_SIZE = 100
"""Refusals kept in :data:`keys.ADMISSION_LOG` for the dashboard."""

Limit = Literal["rate", "active", "depth"]


@dataclass(frozen=True)
class Subject:
    """Who the per-student limits count: a student, or (``LAB_ADMISSION=on`` in an open lab) a client address."""

    kind: Literal["student", "address"]
    name: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"

    def __str__(self) -> str:
        return f"student {self.name}" if self.kind == "student" else f"client {self.name}"


@dataclass(frozen=True)
class Limits:
    """The limits that apply to one request; 0 means not checked."""

    rate: int = 0
    period: float = 60.0
    active: int = 0
    depth: int = 0

    @property
    def any(self) -> bool:
        return bool(self.rate or self.active or self.depth)


class Refused(LabError):
    """A request the lab cannot take now: HTTP 429 with ``Retry-After``."""

    def __init__(self, limit: Limit, message: str, retry_after: int, subject: Subject | None = None) -> None:
        super().__init__(message)
        self.limit, self.retry_after, self.subject = limit, retry_after, subject


class TooBig(LabError):
    """A batch larger than a limit allows at all: waiting cannot help (HTTP 422)."""


def subject_for(student: str | None, *, instructor: bool = False, address: str | None = None) -> Subject | None:
    """Who a request counts against; None: nobody (the instructor, or per-student limits off here)."""
    mode = settings().admission
    if instructor or mode == "off" or (mode == "auto" and not classroom_mode()):
        return None
    if student:
        return Subject("student", student)
    return Subject("address", address or "unknown")


def limits_for(subject: Subject | None) -> Limits:
    """The limits a request by ``subject`` meets, from the settings now."""
    s = settings()
    if s.admission == "off":
        return Limits()
    if subject is None:
        return Limits(depth=s.max_queue_depth)
    return Limits(rate=s.rate_limit, period=s.rate_period, active=s.max_active, depth=s.max_queue_depth)


def queue_keys(conn: redis.Redis | None = None) -> tuple[list[str], list[str]]:
    """The queues' keys: lists (RQ's, Celery's on Redis) and sorted sets (ARQ's, which holds its running jobs too).

    The names the engines use (``labs.engines.celery.queue()``, ``labs.engines.arq.queue()``), spelt here
    so that an RQ-only API does not import Celery; a test checks they agree. With ``conn``, RQ's
    priority and per-student queues too (fair share, :func:`labs.fairness.all_queues`).
    """
    name = queue_name()
    rq_queues = fairness.all_queues(conn) if conn is not None else [name]
    return [*(f"rq:queue:{queue}" for queue in rq_queues), f"{name}-celery"], [f"{name}-arq"]


# KEYS: the bucket, the active set, the state index, then the list queues and the sorted-set queues.
# ARGV: now, n, rate, period, cap, depth cap, grace, how many list queues, the active set's TTL, placeholders...
# Returns {verdict, count, extra}: 'ok' (count: active before, extra: tokens left), 'depth' (count: depth),
# 'active' (count: active), 'rate' (count: tokens, extra: seconds until n tokens). Nothing is written on a refusal
# but the dropping of finished jobs from the active set.
# (One HMGET reads the states of the whole set: Lua's unpack takes ~8000 values, so LAB_MAX_ACTIVE is <= 5000.)
_ADMIT_LUA = """
local unpack = unpack or table.unpack
local now, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local rate, period, cap, depth_cap = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local grace, lists = tonumber(ARGV[7]), tonumber(ARGV[8])
if depth_cap > 0 then
  local depth = 0
  for i = 4, #KEYS do
    if i < 4 + lists then depth = depth + redis.call('LLEN', KEYS[i]) else depth = depth + redis.call('ZCARD', KEYS[i]) end
  end
  if depth + n > depth_cap then return {'depth', depth, ''} end
end
local active = 0
if cap > 0 then
  local members = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  local ids, since = {}, {}
  for i = 1, #members, 2 do
    ids[#ids + 1] = members[i]
    since[#since + 1] = tonumber(members[i + 1])
  end
  local states = #ids > 0 and redis.call('HMGET', KEYS[3], unpack(ids)) or {}
  for i, id in ipairs(ids) do
    local state = states[i]
    if state == 'completed' or state == 'failed' or ((not state) and since[i] < now - grace) then
      redis.call('ZREM', KEYS[2], id)
    else
      active = active + 1
    end
  end
  if active + n > cap then return {'active', active, ''} end
end
local tokens = rate
if rate > 0 then
  local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
  local last = now
  if bucket[1] then
    last = math.max(now, tonumber(bucket[2]))
    tokens = math.min(rate, tonumber(bucket[1]) + math.max(0, now - tonumber(bucket[2])) * rate / period)
  end
  if tokens < n then return {'rate', math.floor(tokens), tostring((n - tokens) * period / rate)} end
  tokens = tokens - n
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(last))
  redis.call('PEXPIRE', KEYS[1], math.ceil((rate - tokens) * period / rate * 1000) + 1000)
end
if cap > 0 then
  for i = 10, #ARGV do redis.call('ZADD', KEYS[2], now, ARGV[i]) end
  redis.call('EXPIRE', KEYS[2], ARGV[9])
end
return {'ok', active, tostring(tokens)}
"""

_scripts: dict[int, Any] = {}


def _script(conn: redis.Redis) -> Any:
    script = _scripts.get(id(conn.connection_pool))
    if script is None:
        script = _scripts[id(conn.connection_pool)] = conn.register_script(_ADMIT_LUA)
    return script


@dataclass
class Ticket:
    """An admitted request: its placeholders in the student's active set until :meth:`bind` names the jobs."""

    conn: redis.Redis
    subject: Subject | None
    placeholders: list[str] = field(default_factory=list)
    admitted_at: float = 0.0

    def bind(self, job_ids: Iterable[str]) -> None:
        """Count the submitted jobs themselves in place of the placeholders."""
        ids = list(job_ids)
        if self.subject is None or not self.placeholders:
            return
        pipe = self.conn.pipeline(transaction=True)
        pipe.zrem(keys.admission_active(self.subject.key), *self.placeholders)
        if ids:
            pipe.zadd(keys.admission_active(self.subject.key), dict.fromkeys(ids, self.admitted_at))
        pipe.execute()
        self.placeholders = []

    def release(self) -> None:
        """Nothing was submitted after all: give the places back (the tokens stay spent)."""
        if self.subject is not None and self.placeholders:
            self.conn.zrem(keys.admission_active(self.subject.key), *self.placeholders)
            self.placeholders = []


def _refusal(conn: redis.Redis, subject: Subject | None, limit: Limit, message: str, now: float) -> None:
    """Count the refusal for the dashboard: per student and limit, and the last few in a capped log."""
    who = subject.key if subject is not None else "everyone"
    entry = json.dumps({"who": who, "limit": limit, "message": message, "ts": now}, ensure_ascii=False)
    pipe = conn.pipeline(transaction=False)
    pipe.hincrby(keys.ADMISSION_REFUSALS, f"{who}\t{limit}", 1)
    pipe.lpush(keys.ADMISSION_LOG, entry)
    pipe.ltrim(keys.ADMISSION_LOG, 0, LOG_SIZE - 1)
    pipe.execute()


def _jobs(n: int) -> str:
    return f"{n} job" if n == 1 else f"{n} jobs"


def check(
    conn: redis.Redis,
    subject: Subject | None,
    n: int = 1,
    *,
    limits: Limits | None = None,
    clock: Callable[[], float] = time.time,
) -> Ticket:
    """Admit ``n`` jobs for ``subject`` or raise :class:`Refused` (or :class:`TooBig`); nothing is half-admitted."""
    limits = limits or limits_for(subject)
    now = clock()
    if not limits.any:
        return Ticket(conn, None, admitted_at=now)
    rate, active = (limits.rate, limits.active) if subject is not None else (0, 0)
    for cap, what in (
        (rate, f"the rate limit of {rate} jobs per {limits.period:g} s"),
        (active, f"the cap of {active} jobs pending or running"),
    ):
        if cap and n > cap:
            raise TooBig(f"a request of {_jobs(n)} exceeds {what} for {subject}: send at most {cap} per request")
    if limits.depth and n > limits.depth:
        raise TooBig(f"a request of {_jobs(n)} exceeds the queue depth limit of {limits.depth}: send fewer per request")
    lists, zsets = queue_keys(conn)
    placeholders = [f"r:{uuid.uuid4().hex}" for _ in range(n)] if active else []
    who = subject or Subject("address", "-")  # with no subject, its two keys are not touched
    verdict, count, extra = _script(conn)(
        keys=[keys.admission_bucket(who.key), keys.admission_active(who.key), keys.JOB_STATES, *lists, *zsets],
        args=[repr(now), n, rate, repr(float(limits.period)), active, limits.depth, repr(GRACE), len(lists),
              settings().result_ttl, *placeholders],
    )  # fmt: skip
    verdict = verdict.decode() if isinstance(verdict, bytes) else str(verdict)
    if verdict == "ok":
        return Ticket(conn, subject if placeholders else None, placeholders, now)
    count = int(count)
    if verdict == "rate":
        wait = max(1, math.ceil(float(extra)))
        message = (
            f"rate limit: {_jobs(limits.rate)} per {limits.period:g} s for {subject}; {count} left,"
            f" this request needs {n}; retry in {wait} s"
        )
        error = Refused("rate", message, wait, subject)
    elif verdict == "active":
        message = (
            f"pending+running cap: {subject} has {count} of {limits.active} jobs pending or running,"
            f" this request adds {n}; retry in {RETRY_LATER} s (or once some finish)"
        )
        error = Refused("active", message, RETRY_LATER, subject)
    else:
        message = (
            f"queue depth limit: the queues hold {count} waiting jobs of {limits.depth}"
            f" (the sorting centre is full), this request adds {n}; retry in {RETRY_LATER} s"
        )
        error = Refused("depth", message, RETRY_LATER, subject)
    _refusal(conn, subject, error.limit, message, now)
    raise error


@contextmanager
def admitted(
    conn: redis.Redis, subject: Subject | None, n: int = 1, *, clock: Callable[[], float] = time.time
) -> Iterator[Ticket]:
    """:func:`check`, then the block submits; an error in the block gives the places back."""
    ticket = check(conn, subject, n, clock=clock)
    try:
        yield ticket
    except BaseException:
        ticket.release()
        raise


def tokens(conn: redis.Redis, subject: Subject, *, limits: Limits | None = None, now: float | None = None) -> float:
    """The tokens ``subject``'s bucket holds at ``now`` (full when it has none recorded), without taking any."""
    limits = limits or limits_for(subject)
    raw = conn.hmget(keys.admission_bucket(subject.key), ["tokens", "ts"])
    if raw[0] is None or not limits.rate:
        return float(limits.rate)
    elapsed = max(0.0, (time.time() if now is None else now) - float(raw[1]))
    return min(float(limits.rate), float(raw[0]) + elapsed * limits.rate / limits.period)


def refusals(conn: redis.Redis) -> list[dict[str, Any]]:
    """Who was refused, by which limit, how often: ``[{"who", "limit", "count"}]``, most refused first."""
    rows = []
    for raw, count in conn.hgetall(keys.ADMISSION_REFUSALS).items():
        who, _, limit = raw.decode().partition("\t")
        rows.append({"who": who, "limit": limit, "count": int(count)})
    return sorted(rows, key=lambda row: (-row["count"], row["who"], row["limit"]))


def recent_refusals(conn: redis.Redis, count: int = 20) -> list[dict[str, Any]]:
    """The newest refusals, newest first: ``{"who", "limit", "message", "ts"}``."""
    return [json.loads(raw) for raw in conn.lrange(keys.ADMISSION_LOG, 0, count - 1)]


def overview(conn: redis.Redis) -> dict[str, Any]:
    """What the dashboard shows: the mode, each limit as it applies now, and who was refused by which."""
    s = settings()
    per_student = s.admission == "on" or (s.admission == "auto" and classroom_mode())
    on = s.admission != "off"
    return {
        "mode": s.admission,
        "classroom": classroom_mode(),
        "limits": [
            {"limit": "rate", "value": s.rate_limit, "period": s.rate_period, "on": on and per_student and s.rate_limit > 0},
            {"limit": "active", "value": s.max_active, "on": on and per_student and s.max_active > 0},
            {"limit": "depth", "value": s.max_queue_depth, "on": on and s.max_queue_depth > 0},
        ],
        "refusals": refusals(conn),
        "recent": recent_refusals(conn, 10),
    }
