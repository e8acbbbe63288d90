"""One embedded broker per state folder: the two locks that make it so.

- ``broker.running.lock`` is held (``fcntl.flock``, exclusive) by the broker
  that serves the folder, for as long as it runs. The kernel releases it when
  that process ends, however it ends, so a crashed broker leaves no stale lock,
  and its left-over URL and pid files are known to be stale.
- ``broker.start.lock`` is held by a process that is starting a broker
  (:func:`labs.broker.ensure_broker`), so that a second starter (a dashboard
  and two notebooks opened together) waits, then finds the first one's broker
  instead of starting its own.

The lock files are never deleted: deleting a locked file would let the next
process lock a new file of the same name.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from ..errors import BrokerUnavailable
from ..settings import state_dir

RUNNING_LOCK = "broker.running.lock"
START_LOCK = "broker.start.lock"


class FolderTaken(BrokerUnavailable):
    """Another embedded broker already serves this state folder."""


class FileLock:
    """An exclusive ``flock`` on ``path``, released on :meth:`release` or when the process ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, timeout: float | None = None) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds (None: do not wait); True if taken."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + (timeout or 0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.05)
                continue
            self._fd = fd
            return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.release()


def running_lock() -> FileLock:
    return FileLock(state_dir() / RUNNING_LOCK)


def start_lock() -> FileLock:
    return FileLock(state_dir() / START_LOCK)


def served() -> bool:
    """Whether a live broker holds this folder (its running lock is taken)."""
    probe = running_lock()
    if probe.acquire():
        probe.release()
        return False
    return True


def claim() -> FileLock:
    """Take this folder for a broker that is starting; :class:`FolderTaken` if another one serves it."""
    lock = running_lock()
    if not lock.acquire():
        raise FolderTaken(f"another embedded broker already serves {state_dir()} (see {state_dir() / 'broker.url'})")
    return lock
