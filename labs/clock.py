"""The demo clock: the one knob, ``LAB_TIME_SCALE``, that every demo delay goes through.

Job sleeps, retry backoff and polling intervals all call :func:`scaled`, so
``LAB_TIME_SCALE=0.05`` makes a lesson run twenty times faster without changing
what it shows, and ``0`` skips the waits.
"""

from __future__ import annotations

import time

from .settings import settings


def time_scale() -> float:
    """``LAB_TIME_SCALE``: 1.0 is real time, 0.05 is twenty times faster, 0 skips waits."""
    return settings().time_scale


def scaled(seconds: float) -> float:
    """A demo delay in seconds, compressed by ``LAB_TIME_SCALE``."""
    return max(0.0, float(seconds)) * time_scale()


def sleep(seconds: float) -> None:
    """Sleep for a demo delay (scaled)."""
    delay = scaled(seconds)
    if delay > 0:
        time.sleep(delay)
