"""Wrong on purpose: the right classification, but the dead letter no longer says what was wrong."""

from __future__ import annotations

from labs.errors import PermanentError
from labs.exercises.ex03_retryable import ship


def is_retryable(exc):
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    return not isinstance(exc, PermanentError | ValueError | TypeError | KeyError)


def deliver(parcel):
    try:
        return ship(parcel)
    except Exception as exc:
        if is_retryable(exc):
            raise
        raise PermanentError("permanent failure") from exc  # the original message is lost
