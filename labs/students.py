"""Classroom namespaces (一个班级，一人一个快递柜): each student sees and touches only their own parcels.

In a class, thirty students share one broker, one set of workers and one API.
Each student registers a name once and gets a token; every job (and batch)
they submit is recorded as theirs, and through the API they can see, follow,
cancel and redrive only their own. The instructor (``LAB_INSTRUCTOR_TOKEN``)
and the dashboard see everything.

Classroom mode is on when ``LAB_INSTRUCTOR_TOKEN`` is set: then the API asks
every request for a token. Without it (one person on a laptop) the API stays
open, and a student token, if one is sent, still narrows the view to its jobs.

Redis keys: ``lab:students`` (name -> SHA-256 of the token), ``lab:student_tokens``
(SHA-256 of the token -> name) and ``lab:owners`` (job or batch id -> name).
Only digests of tokens are stored. Every lifecycle event of a student's job
carries a ``student`` field (the event log's append script adds it), so a
student's live feed is the global feed filtered by name.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from . import events
from .errors import LabError
from .keys import JOB_STATES, OWNERS, STUDENT_TOKENS, STUDENTS
from .settings import settings

NAME = re.compile(r"^[^\W_][\w-]{0,31}$")
"""1-32 letters, digits, ``_`` or ``-`` (Chinese names too), starting with a letter or digit."""


class NameTaken(LabError):
    """Someone in this class already registered that name."""


class InvalidName(LabError, ValueError):
    """A name that is not 1-32 letters, digits, ``_`` or ``-``."""


class NotAllowed(LabError):
    """No token, or a token this class does not know."""


@dataclass(frozen=True)
class Viewer:
    """Who is asking: a student (sees their own jobs) or ``None`` (the instructor, or an open lab: sees all)."""

    student: str | None = None
    instructor: bool = False

    def may_see(self, owner: str | None) -> bool:
        return self.student is None or owner == self.student


EVERYONE = Viewer()


def classroom_mode() -> bool:
    """Whether the API requires a token (``LAB_INSTRUCTOR_TOKEN`` is set)."""
    return bool(settings().instructor_token)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    name = name.strip()
    if not NAME.match(name):
        raise InvalidName(f"{name[:40]!r} is not a name: use 1-32 letters, digits, '_' or '-', e.g. 'alice' or '王小明'")
    return name


def register(conn: redis.Redis, name: str) -> str:
    """Register ``name`` in this class and return its token (shown once, stored only as a digest)."""
    name = check_name(name)
    token = secrets.token_urlsafe(24)
    if not conn.hsetnx(STUDENTS, name, _digest(token)):
        raise NameTaken(f"the name {name!r} is taken in this class: pick another (or use the token you got for it)")
    conn.hset(STUDENT_TOKENS, _digest(token), name)
    return token


def student_for(conn: redis.Redis, token: str) -> str | None:
    """The student a token belongs to, or None."""
    name = conn.hget(STUDENT_TOKENS, _digest(token))
    return name.decode() if name is not None else None


def names(conn: redis.Redis) -> list[str]:
    return sorted(n.decode() for n in conn.hkeys(STUDENTS))


def viewer_for(conn: redis.Redis, token: str | None) -> Viewer:
    """Resolve a request's token to a :class:`Viewer`; :class:`NotAllowed` if the lab cannot accept it."""
    instructor = settings().instructor_token
    if token:
        if instructor and hmac.compare_digest(token.encode(), instructor.encode()):
            return Viewer(instructor=True)
        name = student_for(conn, token)
        if name is None:
            raise NotAllowed('unknown token: register with POST /students {"name": ...} and send the token you get')
        return Viewer(student=name)
    if classroom_mode():
        raise NotAllowed(
            'this lab runs in classroom mode: register with POST /students {"name": ...}, '
            "then send 'Authorization: Bearer <token>' (or ?token=<token> for EventSource and WebSocket)"
        )
    return EVERYONE


def set_owner(conn: redis.Redis | redis.client.Pipeline, item_id: str, student: str | None) -> None:
    """Record that a job or batch belongs to ``student`` (nothing for the instructor or an open lab)."""
    if student:
        conn.hset(OWNERS, item_id, student)


def owner_of(conn: redis.Redis, item_id: str) -> str | None:
    name = conn.hget(OWNERS, item_id)
    return name.decode() if name is not None else None


def owners_of(conn: redis.Redis, item_ids: Iterable[str]) -> list[str | None]:
    ids = list(item_ids)
    if not ids:
        return []
    return [n.decode() if n is not None else None for n in conn.hmget(OWNERS, ids)]


def jobs_of(conn: redis.Redis, student: str) -> list[str]:
    """The ids of ``student``'s jobs (batches left out)."""
    return [
        item.decode() for item, owner in conn.hgetall(OWNERS).items() if owner.decode() == student and not item.startswith(b"b-")
    ]


def state_counts(conn: redis.Redis, student: str) -> dict[str, int]:
    """How many of ``student``'s jobs are in each state (expired jobs dropped first, as the listing skips them)."""
    events.forget_expired(conn, limit=1000)
    counts: dict[str, int] = {}
    ids = jobs_of(conn, student)
    for raw in conn.hmget(JOB_STATES, ids) if ids else []:
        if raw is not None:
            counts[raw.decode()] = counts.get(raw.decode(), 0) + 1
    return counts


def may_see(conn: redis.Redis, viewer: Viewer, item_id: str) -> bool:
    """Whether ``viewer`` may see the job or batch ``item_id``."""
    return viewer.student is None or owner_of(conn, item_id) == viewer.student
