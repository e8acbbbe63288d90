"""Lab-wide settings: the state folder, the queue name and the one clock knob.

Every demo delay in the lab (job sleeps, retry backoff, polling intervals) goes
through :func:`scaled`, so ``LAB_TIME_SCALE=0.05`` makes a lesson run twenty
times faster without changing what it shows.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    """Folder for the lab's runtime files (broker URL, uploads, databases).

    ``LAB_STATE_DIR`` overrides it; by default it sits next to the package, so a
    notebook started in ``notebooks/`` and a worker started at the top level find
    the same broker.
    """
    path = Path(os.environ.get("LAB_STATE_DIR") or REPO_ROOT / ".lab")
    path.mkdir(parents=True, exist_ok=True)
    return path


def queue_name() -> str:
    """Name of the RQ queue the lab uses (``LAB_QUEUE``, default ``lab``)."""
    return os.environ.get("LAB_QUEUE", "lab")


def time_scale() -> float:
    """``LAB_TIME_SCALE``: 1.0 is real time, 0.05 is twenty times faster, 0 skips waits."""
    raw = os.environ.get("LAB_TIME_SCALE", "1")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"LAB_TIME_SCALE must be a number, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"LAB_TIME_SCALE must be >= 0, got {value}")
    return value


def scaled(seconds: float) -> float:
    """A demo delay in seconds, compressed by ``LAB_TIME_SCALE``."""
    return max(0.0, float(seconds)) * time_scale()


def sleep(seconds: float) -> None:
    """Sleep for a demo delay (scaled)."""
    delay = scaled(seconds)
    if delay > 0:
        time.sleep(delay)
