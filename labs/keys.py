"""Every Redis key the lab writes besides RQ's own, in one place."""

from __future__ import annotations

PREFIX = "lab"

GLOBAL_STREAM = f"{PREFIX}:events"
"""The global lifecycle stream (capped): the dashboard's firehose."""

JOB_STATES = f"{PREFIX}:states"
"""Hash: job id -> current state, kept by the event log (an entry goes with its job: ``events.forget_expired``)."""

JOB_INDEX = f"{PREFIX}:jobs"
"""Sorted set: job id -> enqueue time, kept by the event log (an entry goes with its job: ``events.forget_expired``)."""

OWNERS = f"{PREFIX}:owners"
"""Hash: job or batch id -> the student it belongs to (classroom mode; see ``students.py``)."""

STUDENTS = f"{PREFIX}:students"
"""Hash: student name -> SHA-256 of their token."""

STUDENT_TOKENS = f"{PREFIX}:student_tokens"
"""Hash: SHA-256 of a token -> student name."""

DEAD_LETTERS = f"{PREFIX}:dlq:jobs"
"""Sorted set: job id -> when it was dead-lettered, for engines with no failed-job registry of their own
(Celery). RQ's dead letters stay in RQ's ``FailedJobRegistry``."""

DLQ_LOG = f"{PREFIX}:dlq:log"
"""List: what the ``handle_failed_tasks`` sweeper logged (capped)."""

WORKERS_ON_PURPOSE = f"{PREFIX}:workers:on_purpose"
"""Hash: worker name -> JSON ``{"action": "stopped"|"killed", "ts", "held_by"}``: workers the instructor stopped
or killed from the dashboard, which ``labs up`` must not restart (see ``supervisor.py``)."""

RECONCILE_CURSOR = f"{PREFIX}:reconcile:cursor"
"""String: where the workers' maintenance goes on scanning :data:`JOB_STATES` for jobs whose log and RQ disagree."""


ADMISSION_REFUSALS = f"{PREFIX}:admission:refusals"
"""Hash: ``<who>\\t<limit>`` -> how many requests that limit refused (see ``admission.py``; the dashboard shows it)."""

ADMISSION_LOG = f"{PREFIX}:admission:log"
"""List: the newest refusals, JSON ``{"who", "limit", "message", "ts"}`` (capped)."""


def job_stream(job_id: str) -> str:
    """The per-job lifecycle stream."""
    return f"{PREFIX}:events:{job_id}"


def rq_job(job_id: str) -> str:
    """RQ's own record of a job (RQ writes it; read here so that the index keeps a job RQ still holds)."""
    return f"rq:job:{job_id}"


def engine_key(engine: str, *parts: str) -> str:
    """A key an engine keeps for itself (e.g. ``lab:celery:job:<id>``, its record of a job)."""
    return ":".join((PREFIX, engine, *parts))


def cancel_flag(job_id: str) -> str:
    """Set when someone asks to cancel a job; ``progress()`` checks it."""
    return f"{PREFIX}:cancel:{job_id}"


def admission_bucket(who: str) -> str:
    """Hash ``{tokens, ts}``: the submit token bucket of a student (``student:<name>``) or address (``address:<ip>``)."""
    return f"{PREFIX}:admission:bucket:{who}"


def admission_active(who: str) -> str:
    """Sorted set: job id (or a placeholder while it is submitted) -> when admitted, the student's jobs not yet final."""
    return f"{PREFIX}:admission:active:{who}"


def fair_queues(base: str) -> str:
    """Set: the per-student RQ queues of the lab queue ``base`` that have ever had a job (fair share, ``fairness.py``)."""
    return f"{PREFIX}:fair:{base}"
