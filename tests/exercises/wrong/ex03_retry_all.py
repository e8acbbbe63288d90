"""Wrong on purpose: every error is "retryable", so poison parcels are redelivered until the retries run out."""

from __future__ import annotations

from labs.errors import PermanentError
from labs.exercises.ex03_retryable import ship


def is_retryable(exc):
    return True


def deliver(parcel):
    try:
        return ship(parcel)
    except Exception as exc:
        if is_retryable(exc):
            raise
        raise PermanentError(str(exc)) from exc
