"""The seed's demo jobs: an empty parcel, a slow one, an e-mail that is retried, a poison record."""

from __future__ import annotations

import random
from typing import Any

from ..clock import sleep
from ..errors import PoisonInput
from ..job_context import current_attempt
from ..progress import progress


class SMTPTemporaryError(ConnectionError):
    """A simulated temporary SMTP failure (421): worth retrying."""


def noop(value: Any = None) -> Any:
    """Do nothing and return ``value``: the fastest possible parcel (used by the benchmark)."""
    return value


def slow_task(steps: int = 10, step_seconds: float = 0.5) -> dict[str, Any]:
    """Work through ``steps`` steps of ``step_seconds`` each, reporting progress (timeouts, cancel)."""
    for step in range(1, steps + 1):
        sleep(step_seconds)
        progress(step, steps, f"step {step}/{steps}")
    return {"steps": steps}


def send_email(
    to: str,
    subject: str,
    body: str = "",
    failure_rate: float = 0.0,
    fail_first: int = 0,
    duration: float = 0.3,
) -> dict[str, Any]:
    """Send an e-mail through a simulated SMTP server that is sometimes unavailable.

    ``failure_rate``: chance that an attempt fails; ``fail_first``: the first N
    attempts fail for sure (for a lesson you can repeat).
    """
    attempt = current_attempt()
    progress(0, 1, f"connecting to smtp (attempt {attempt})")
    sleep(duration)
    if attempt <= fail_first or random.random() < failure_rate:
        raise SMTPTemporaryError(f"421 smtp.example.com service not available (attempt {attempt})")
    progress(1, 1, f"sent to {to}")
    return {"to": to, "subject": subject, "attempt": attempt, "bytes": len(body.encode())}


def risky_task(data: dict[str, Any], fail_fast: bool = False) -> dict[str, Any]:
    """Process a record; a record with ``"poison": true`` can never be processed.

    A poison record fails on every attempt, so after its retries it lands in the
    dead-letter queue. With ``fail_fast`` the error is marked permanent and it
    goes there at once, without wasting redeliveries.
    """
    sleep(0.2)
    if data.get("poison"):
        message = f"cannot process poison record {data!r}"
        if fail_fast:
            raise PoisonInput(message)
        raise ValueError(message)
    return {"processed": data}
