"""Wrong on purpose: thinks a retry goes failed -> pending (in the lab it is running -> pending)."""

from __future__ import annotations

NEXT = {
    None: {"pending"},
    "pending": {"pending", "running", "failed"},
    "running": {"running", "pending", "completed", "failed"},
    "completed": {"completed"},
    "failed": {"failed", "pending"},  # wrong: failed is final
}


def can_follow(previous, state):
    return state in NEXT.get(previous, set())


def first_invalid(states):
    previous = None
    for index, state in enumerate(states):
        if not can_follow(previous, state):
            return index
        previous = state
    return None
