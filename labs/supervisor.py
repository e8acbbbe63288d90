"""Watching the processes ``labs up`` started: an exit is reported at once, then restarted with a backoff.

A lab whose worker, API or dashboard died while the console looked healthy
tells the class something that is not so. The :class:`Supervisor` polls each
process it was given; when one exits it prints which one, its exit code and
the last line of its log, and starts it again after 1, 2, 4 ... demo seconds
(``LAB_TIME_SCALE``). One that keeps dying (more than :data:`MAX_RESTARTS`
exits in a row, each before it had answered for :data:`STABLE_AFTER` demo
seconds) is given up on, loudly, instead of flapping forever.

A worker the instructor stopped or killed *on purpose* from the dashboard is
marked first (:func:`mark_on_purpose`, a field of ``lab:workers:on_purpose``):
its exit is reported as such and it is not restarted, until the workers page
brings it back (:func:`bring_back` removes the mark; the supervisor then starts it).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from . import keys
from .clock import scaled

MAX_RESTARTS = 5
"""Exits in a row (each before :data:`STABLE_AFTER`) after which a process is given up on."""
STABLE_AFTER = 30.0
"""Demo seconds a process must run for its next exit to count as a first one again."""
BACKOFF_BASE, BACKOFF_CAP = 1.0, 30.0
"""Demo seconds before the first restart, doubling each time, at most the cap."""
ON_PURPOSE_TTL = 7 * 24 * 3600


def backoff(restart: int) -> float:
    """Seconds (scaled by ``LAB_TIME_SCALE``) to wait before restart number ``restart`` (1, 2, ...)."""
    return scaled(min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (restart - 1)))


# --------------------------------------------------------------------------- on purpose


def mark_on_purpose(conn: redis.Redis, name: str, action: str) -> None:
    """Record that the instructor is stopping or killing worker ``name`` (before doing it: the exit follows fast)."""
    entry = {"action": action, "ts": time.time(), "held_by": None}
    conn.hset(keys.WORKERS_ON_PURPOSE, name, json.dumps(entry))
    conn.expire(keys.WORKERS_ON_PURPOSE, ON_PURPOSE_TTL)


def unmark(conn: redis.Redis, name: str) -> None:
    conn.hdel(keys.WORKERS_ON_PURPOSE, name)


def on_purpose(conn: redis.Redis) -> dict[str, dict[str, Any]]:
    """Every marked worker: name -> ``{"action", "ts", "held_by"}`` (``held_by``: the pid of the ``labs up``
    holding it back, ``None`` while it has not exited yet or when no ``labs up`` started it)."""
    out = {}
    for raw_name, raw in conn.hgetall(keys.WORKERS_ON_PURPOSE).items():
        with contextlib.suppress(ValueError, TypeError):
            out[raw_name.decode()] = json.loads(raw)
    return out


def bring_back(conn: redis.Redis, name: str) -> bool:
    """Let ``labs up`` start a worker stopped on purpose again; False when no ``labs up`` holds it back."""
    entry = on_purpose(conn).get(name)
    if entry is None or not entry.get("held_by"):
        return False
    unmark(conn, name)
    return True


# --------------------------------------------------------------------------- processes


def exit_text(code: int | None) -> str:
    """``1``, or ``-9 (SIGKILL)`` for a process a signal ended."""
    if code is None:
        return "?"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"{code} ({signal.Signals(-code).name})"
    return str(code)


def _tail(path: Path) -> list[str]:
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 8192))
            return [line.strip() for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return []


def _cut(line: str, limit: int) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"


def last_line(path: Path, limit: int = 200) -> str:
    """The last non-empty line of a log (what a process said before it died), cut to ``limit`` characters."""
    lines = _tail(path)
    return _cut(lines[-1], limit) if lines else ""


ERROR_MARKS = ("error", "exception", "errno", "traceback", "fatal")


def last_error(path: Path, within: int = 12, limit: int = 200) -> str:
    """The last line among the log's last ``within`` that reads like an error ("" if none): uvicorn, for one,
    ends with "Application shutdown complete." after the line that says why."""
    for line in reversed(_tail(path)[-within:]):
        if any(mark in line.lower() for mark in ERROR_MARKS):
            return _cut(line, limit)
    return ""


Launch = Callable[[str], tuple[subprocess.Popen[bytes], Path]]
"""Start one process under the given name; return it and its log."""


@dataclass
class Service:
    """One supervised process: a worker (renamed at each restart) or a server (same name, same port)."""

    kind: str
    """``worker``, ``celery worker``, ``API``, ``dashboard``, ``Flower`` or ``Jupyter``."""
    name: str
    launch: Launch
    proc: subprocess.Popen[bytes]
    log: Path
    ready: Callable[[Service], bool] | None = None
    """Does the (re)started process answer yet (registered; health check)? None: it is ready when it runs."""
    url: str = ""
    base_name: str = ""
    state: str = "running"
    """``running``, ``starting`` (restarted, not answering yet), ``waiting`` (backoff), ``on_purpose``, ``given_up``."""
    failures: int = 0
    restarts: int = 0
    started_at: float = field(default_factory=time.monotonic)
    ready_at: float | None = None
    """When it last answered (None: since its last start, never)."""
    due: float = 0.0

    def __post_init__(self) -> None:
        if self.ready_at is None and self.state == "running":
            self.ready_at = self.started_at

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}" if self.kind.endswith("worker") else self.kind

    @property
    def is_worker(self) -> bool:
        return self.kind.endswith("worker")


class Supervisor:
    """Poll the lab's processes (:meth:`check`, called every fraction of a second by ``labs up``)."""

    def __init__(
        self,
        conn: Callable[[], redis.Redis | None] = lambda: None,
        out: Callable[[str], None] = lambda line: print(line, flush=True),
        *,
        max_restarts: int = MAX_RESTARTS,
    ) -> None:
        self.services: list[Service] = []
        self.conn = conn
        self.out = out
        self.max_restarts = max_restarts

    def add(self, service: Service) -> Service:
        service.base_name = service.base_name or service.name
        self.services.append(service)
        return service

    def procs(self) -> list[subprocess.Popen[bytes]]:
        return [s.proc for s in self.services if s.proc.poll() is None]

    def check(self, now: float | None = None) -> None:
        """One pass: report the processes that exited, start the ones whose backoff is over, announce the ready ones."""
        now = time.monotonic() if now is None else now
        for service in self.services:
            if service.state in {"running", "starting"} and service.proc.poll() is not None:
                self._exited(service, now)
            elif service.state == "waiting" and now >= service.due:
                self._restart(service, now)
            elif service.state == "on_purpose" and self._released(service):
                self.out(f"  {service.label} brought back from the dashboard")
                self._restart(service, now)
            if service.state == "starting" and service.proc.poll() is None and self._is_ready(service):
                service.state, service.ready_at = "running", now
                where = f": {service.url}" if service.url else ""
                self.out(f"  {service.label} is back (restart {service.restarts}, pid {service.proc.pid}){where}")

    def _is_ready(self, service: Service) -> bool:
        try:
            return service.ready is None or service.ready(service)
        except Exception:  # noqa: BLE001 - a probe that fails is a service not ready yet
            return False

    def _mark(self, service: Service) -> dict[str, Any] | None:
        conn = self.conn() if service.is_worker else None
        if conn is None:
            return None
        try:
            return on_purpose(conn).get(service.name)
        except (redis.exceptions.RedisError, OSError):
            return None

    def _released(self, service: Service) -> bool:
        conn = self.conn()
        if conn is None:
            return False
        try:
            return not conn.hexists(keys.WORKERS_ON_PURPOSE, service.name)
        except (redis.exceptions.RedisError, OSError):
            return False

    def _exited(self, service: Service, now: float) -> None:
        code = service.proc.returncode
        line, error = last_line(service.log), last_error(service.log)
        why = f" (error: {error})" if error and error != line else ""
        said = f"last line of {service.log.name}: {line or '(empty)'}{why}"
        self.out(f"! {service.label} exited with code {exit_text(code)}; {said}")
        mark = self._mark(service)
        if mark is not None:
            mark["held_by"] = os.getpid()
            with contextlib.suppress(redis.exceptions.RedisError, OSError):
                conn = self.conn()
                if conn is not None:
                    conn.hset(keys.WORKERS_ON_PURPOSE, service.name, json.dumps(mark))
            service.state = "on_purpose"
            self.out(
                f"  {service.label} was {mark.get('action', 'stopped')} on purpose from the dashboard: "
                "not restarted (the workers page can bring it back)"
            )
            return
        if service.state == "running" and now - (service.ready_at or now) >= scaled(STABLE_AFTER):
            service.failures = 0  # it had answered for a while: this exit is a first one again
        service.failures += 1
        if service.failures > self.max_restarts:
            service.state = "given_up"
            self.out(
                f"!! giving up on {service.label}: it exited {service.failures} times in a row "
                f"(last code {exit_text(code)}); see {service.log}"
            )
            return
        delay = backoff(service.failures)
        service.state, service.due = "waiting", now + delay
        self.out(f"  restarting {service.label} in {delay:.2g} s (restart {service.failures} of at most {self.max_restarts})")

    def _restart(self, service: Service, now: float) -> None:
        service.restarts += 1
        name = f"{service.base_name}-r{service.restarts}" if service.is_worker else service.name
        try:
            proc, log = service.launch(name)
        except OSError as exc:
            self.out(f"!! could not restart {service.label}: {exc}")
            service.state = "given_up"
            return
        old = service.name
        service.name, service.proc, service.log = name, proc, log
        service.state, service.started_at, service.ready_at = "starting", now, None
        if name != old:
            self.out(f"  {service.kind} {old} restarted as {name} (pid {proc.pid})")

    def forget_marks(self) -> None:
        """Remove the on-purpose marks of this supervisor's workers (``labs up`` is stopping: nothing to bring back)."""
        conn = self.conn()
        if conn is None:
            return
        with contextlib.suppress(redis.exceptions.RedisError, OSError):
            names = [s.name for s in self.services if s.is_worker]
            if names:
                conn.hdel(keys.WORKERS_ON_PURPOSE, *names)
