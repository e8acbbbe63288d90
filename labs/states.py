"""The seed's four task states (类比4: 快递物流状态) and how RQ's statuses map to them.

=========  ==========================  ==========================
state      parcel tracking             RQ statuses
=========  ==========================  ==========================
pending    已下单 (order placed)        created, queued, deferred, scheduled, ...
running    运输中 (in transit)          started
completed  已签收 (signed for)          finished
failed     派送失败 (delivery failed)   failed, stopped, canceled
=========  ==========================  ==========================

This module is the one place that mapping lives. A status RQ adds in a later
release maps to :data:`UNKNOWN`, which every view draws generically.
"""

from __future__ import annotations

from enum import Enum, StrEnum

from . import i18n


class State(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


UNKNOWN = "unknown"
"""What a status RQ may add in a later release is drawn as."""

TERMINAL: frozenset[str] = frozenset({State.COMPLETED.value, State.FAILED.value})

RQ_STATUS_TO_STATE: dict[str, State] = {
    "created": State.PENDING,
    "queued": State.PENDING,
    "deferred": State.PENDING,
    "scheduled": State.PENDING,
    "rate_limited": State.PENDING,
    "ready_to_enqueue": State.PENDING,
    "started": State.RUNNING,
    "finished": State.COMPLETED,
    "failed": State.FAILED,
    "stopped": State.FAILED,
    "canceled": State.FAILED,
}

# Which state may follow which, as the event log records them. A retry is
# running -> pending (scheduled for redelivery) -> running. Events after a
# terminal state (dead-lettered, redriven) keep it: terminal states are final.
ALLOWED: dict[str, frozenset[str]] = {
    State.PENDING.value: frozenset({"pending", "running", "failed"}),
    State.RUNNING.value: frozenset({"running", "pending", "completed", "failed"}),
    State.COMPLETED.value: frozenset({"completed"}),
    State.FAILED.value: frozenset({"failed"}),
}

LABELS: dict[str, dict[str, str]] = {
    state: {lang: i18n.t(f"state.{state}", lang) for lang in i18n.LANGUAGES} for state in [*(s.value for s in State), UNKNOWN]
}
"""Each state's name per language (``LABELS["pending"]["zh"] == "已下单 / 等待中"``), from :mod:`labs.i18n`."""


def state_of(rq_status: str | Enum | None) -> str:
    """Map an RQ job status to one of the four states, or ``"unknown"``."""
    if rq_status is None:
        return UNKNOWN
    value = rq_status.value if isinstance(rq_status, Enum) else str(rq_status)
    state = RQ_STATUS_TO_STATE.get(value)
    return state.value if state else UNKNOWN


def is_terminal(state: str) -> bool:
    return state in TERMINAL


def can_follow(previous: str | None, state: str) -> bool:
    """True when ``state`` may follow ``previous`` (None: the first event, which must be pending)."""
    if previous is None:
        return state == State.PENDING.value
    if previous not in ALLOWED or state not in ALLOWED:
        return False
    return state in ALLOWED[previous]


class InvalidTransition(ValueError):
    """An event sequence that breaks the state machine."""


def validate_sequence(states: list[str]) -> None:
    """Raise :class:`InvalidTransition` unless ``states`` is a valid life of one job."""
    previous: str | None = None
    for position, state in enumerate(states):
        if not can_follow(previous, state):
            raise InvalidTransition(f"event {position}: {previous!r} -> {state!r} is not allowed")
        previous = state
