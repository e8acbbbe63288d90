"""参考答案 / reference solution: exercise 3, which errors are worth retrying."""

from __future__ import annotations

from typing import Any

from labs.errors import PermanentError
from labs.tasks.demo import SMTPTemporaryError, current_attempt

NOT_RETRYABLE = (PermanentError, ValueError, TypeError, KeyError)
"""Errors about the input itself: the same input fails the same way every time."""


def ship(parcel: dict[str, Any]) -> dict[str, Any]:
    """Try to deliver a parcel (already written).

    ``parcel["problem"]`` says what goes wrong: "none", "timeout", "connection", "bad_address",
    "missing_field" or "wrong_type"; it goes wrong on the first ``parcel["fail_times"]``
    deliveries (every time when it is missing).
    """
    problem = parcel.get("problem", "none")
    attempt = current_attempt()
    if problem != "none" and attempt <= parcel.get("fail_times", 1_000):
        if problem == "timeout":
            raise TimeoutError(f"the courier timed out on delivery {attempt}")
        if problem == "connection":
            raise SMTPTemporaryError(f"421 depot.example.com not available (delivery {attempt})")
        if problem == "bad_address":
            raise ValueError(f"address {parcel.get('address', '')!r} does not exist")
        if problem == "missing_field":
            raise KeyError("postcode")
        if problem == "wrong_type":
            raise TypeError(f"weight must be a number, got {parcel.get('weight')!r}")
        raise RuntimeError(f"unexpected problem {problem!r}")
    return {"delivered": parcel.get("id", "?"), "attempt": attempt}


def is_retryable(exc: BaseException) -> bool:
    """True when retrying may help (a transient error), False when it cannot (the input is bad)."""
    if isinstance(exc, TimeoutError | ConnectionError):
        return True  # checked first: nothing transient is also an input error, but be explicit
    # isinstance also catches subclasses: json.JSONDecodeError is a ValueError, PoisonInput a PermanentError
    return not isinstance(exc, NOT_RETRYABLE)


def deliver(parcel: dict[str, Any]) -> dict[str, Any]:
    """The job: ``ship(parcel)``; turn an error that is not worth retrying into a ``PermanentError``."""
    try:
        return ship(parcel)
    except Exception as exc:
        if is_retryable(exc) or isinstance(exc, PermanentError):
            raise  # the worker redelivers it (or, for PermanentError, already knows not to)
        raise PermanentError(f"{type(exc).__name__}: {exc}") from exc
