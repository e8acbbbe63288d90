"""An SSE client in a background thread that resumes with ``Last-Event-ID``: the radio left on during a fault.

Built on :class:`labs.client.SseFollow`; this adds the thread and keeps every
lifecycle event received, so a test can compare them with the event log
(no gap, no duplicate) once the fault is over.
"""

from __future__ import annotations

import threading
from typing import Any

from ..client import LabClient, SseFollow

READ_TIMEOUT = 5.0
"""Seconds of silence that count as a dead line: the server pings every few (scaled) seconds."""


class SseFollower:
    """Follow one job's stream (``job_id``) or the firehose (``/events``) in a thread until :meth:`stop`.

    ``events`` holds the lifecycle events received (``id`` + the event's
    data), in order; keep-alive pings and ``snapshot`` messages are not
    events. A job's stream is done at its ``end`` message or a ``204``; the
    firehose runs until :meth:`stop`. Every answer but ``200`` / ``204`` (a
    ``503`` while Redis is down) is tried again after ``retry_delay`` s.
    """

    def __init__(self, base_url: str, job_id: str | None = None, retry_delay: float = 0.1) -> None:
        self.base_url, self.job_id = base_url, job_id
        self._client = LabClient(base_url)
        options: dict[str, Any] = {"retry": retry_delay, "read_timeout": READ_TIMEOUT, "retry_statuses": range(300, 600)}
        self.follow: SseFollow = (
            self._client.follow(job_id, **options) if job_id is not None else self._client.follow_events(**options)
        )
        self.events: list[dict[str, Any]] = []
        self.done = threading.Event()
        """Set at the job stream's end (or its ``204``)."""
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> str:
        return self.follow.path

    @property
    def statuses(self) -> list[int]:
        """The HTTP status of every (re)connection attempt."""
        return self.follow.statuses

    @property
    def errors(self) -> list[str]:
        """``error`` messages from the server and transport errors, in order."""
        return self.follow.errors

    @property
    def connections(self) -> int:
        return self.follow.connections

    @property
    def last_id(self) -> str | None:
        return self.follow.last_event_id

    def start(self) -> SseFollower:
        self._thread = threading.Thread(target=self._run, name=f"sse {self.path}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.follow.close()
        if self._thread is not None:
            self._thread.join(timeout)
        self._client.close()

    def wait(self, timeout: float) -> bool:
        """Wait for a job stream's end; True when it came."""
        return self.done.wait(timeout)

    def _run(self) -> None:
        try:
            for message in self.follow.events():
                self.events.append({"id": message.id, **message.data})
        except Exception as exc:  # kept for the test's assertion message, like a transport error
            self.errors.append(f"{type(exc).__name__}: {exc}")
        if self.follow.done:
            self.done.set()
