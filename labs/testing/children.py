"""Child processes that do not outlive the test or benchmark that started them."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys
from collections.abc import Callable


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM when the process that started it dies (no orphan server)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def preexec() -> Callable[[], None] | None:
    """``preexec_fn`` for :class:`subprocess.Popen`: :func:`die_with_parent` on Linux, nothing elsewhere."""
    return die_with_parent if sys.platform.startswith("linux") else None
