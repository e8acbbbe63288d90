"""参考答案 / reference solution: exercise 4, a validator for the four-state machine."""

from __future__ import annotations

PENDING, RUNNING, COMPLETED, FAILED = "pending", "running", "completed", "failed"

NEXT: dict[str | None, set[str]] = {
    None: {PENDING},  # every job starts as an order placed
    PENDING: {PENDING, RUNNING, FAILED},  # failed: cancelled before a worker picked it up
    RUNNING: {RUNNING, PENDING, COMPLETED, FAILED},  # pending: a retry is booked
    COMPLETED: {COMPLETED},  # terminal: only annotations follow
    FAILED: {FAILED},
}


def can_follow(previous: str | None, state: str) -> bool:
    """True when ``state`` may come right after ``previous`` (``None``: ``state`` is the first)."""
    return state in NEXT.get(previous, set())


def first_invalid(states: list[str]) -> int | None:
    """The index of the first state that may not follow the one before it, or None."""
    previous: str | None = None
    for index, state in enumerate(states):
        if not can_follow(previous, state):
            return index
        previous = state
    return None
