"""The broker reads and actions the dashboard pages make, without Streamlit.

Connections go through :func:`labs.broker.get_connection` (``REDIS_URL`` or the
embedded broker); a dead broker raises :class:`~labs.errors.BrokerUnavailable`
with one readable line, which the pages show instead of a traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import subprocess
import uuid
from typing import Any
from urllib.parse import urlparse

import redis

from .. import dlq, events, jobs, launcher, supervisor
from ..broker import ensure_broker, get_connection, redis_url
from ..clock import time_scale
from ..engines import get_engine
from ..settings import settings
from ..states import is_terminal

_connections: dict[str, redis.Redis] = {}


def connection() -> redis.Redis:
    """A live connection to the lab's broker, reused between refresh ticks.

    Without ``REDIS_URL`` and with no embedded broker running, it starts one in
    the background first (``python -m labs broker``), so ``streamlit run app.py``
    needs no set-up. Raises :class:`BrokerUnavailable` (one readable line) when
    the broker cannot be reached.
    """
    url = redis_url()
    conn = _connections.get(url or "")
    if conn is not None:
        try:
            conn.ping()
            return conn
        except (redis.exceptions.RedisError, OSError):
            _connections.pop(url or "", None)
    if not settings().redis_url:
        ensure_broker()
    conn = get_connection()  # raises BrokerUnavailable with the hint to start one
    _connections[redis_url() or ""] = conn
    return conn


def broker_label() -> str:
    """The broker URL for the sidebar (password hidden), or ``-``."""
    url = redis_url()
    if not url:
        return "-"
    parsed = urlparse(url)
    return url.replace(f":{parsed.password}@", ":***@") if parsed.password else url


# --------------------------------------------------------------------------- workers

_started: dict[str, subprocess.Popen[bytes]] = {}
"""Worker processes this dashboard process started (stopped again when it exits)."""


def live_workers(conn: redis.Redis) -> list[dict[str, Any]]:
    """Every engine's live workers (name, engine, kind, state, current job, jobs done, pids)."""
    reap()
    return launcher.all_workers(conn)


def engines_without_workers(conn: redis.Redis) -> list[str]:
    """Engines other than RQ with jobs waiting in their queue and no live worker (the board says so)."""
    from ..engines import arq, celery

    out = []
    if conn.llen(celery.queue()) and not celery.CeleryEngine().workers(conn):
        out.append("celery")
    if conn.zcard(arq.queue()) and not arq.ArqEngine().workers(conn):
        out.append("arq")
    return out


def start_local_worker(kind: str = "fork", engine: str = "rq") -> str:
    """Start one more ``python -m labs worker [--engine E]`` on this machine; return its name."""
    if kind not in get_engine(engine).kinds:
        raise ValueError(f"the {engine} engine has no worker kind {kind!r}")
    name = f"dash-{engine}-{kind}-{uuid.uuid4().hex[:6]}" if engine != "rq" else f"dash-{kind}-{uuid.uuid4().hex[:6]}"
    env = {"REDIS_URL": url} if (url := redis_url()) else {}
    if engine == "celery":
        env["LAB_CELERY_TASK_EVENTS"] = "1"  # Flower sees its jobs from the first one
    _started[name] = launcher.start_worker(kind, name=name, env=env, engine=engine)
    return name


def stop_worker(conn: redis.Redis, name: str) -> None:
    """Ask a worker to finish its current job and leave (RQ's shutdown command, Celery's ``control.shutdown``).

    Marked as stopped on purpose first, so that ``labs up`` reports it as such and does not restart it.
    """
    supervisor.mark_on_purpose(conn, name, "stopped")
    try:
        launcher.stop_worker(conn, name)
    except Exception:
        supervisor.unmark(conn, name)
        raise


def kill_worker(conn: redis.Redis, name: str) -> dict[str, Any]:
    """SIGKILL a local worker and its work horse mid-job (the abandoned-job demo), marked as killed on purpose."""
    supervisor.mark_on_purpose(conn, name, "killed")
    try:
        result = launcher.kill_worker(conn, name)
    except Exception:
        supervisor.unmark(conn, name)
        raise
    reap()
    return result


def held_back(conn: redis.Redis) -> dict[str, dict[str, Any]]:
    """Workers stopped or killed on purpose that ``labs up`` holds back (the workers page can bring them back)."""
    return {name: mark for name, mark in supervisor.on_purpose(conn).items() if mark.get("held_by")}


def bring_back(conn: redis.Redis, name: str) -> bool:
    """Let ``labs up`` start a worker it holds back again (False: no ``labs up`` holds it)."""
    return supervisor.bring_back(conn, name)


def reap() -> None:
    """Collect the exit status of started workers that have ended (no zombies)."""
    for name, proc in list(_started.items()):
        if proc.poll() is not None:
            _started.pop(name, None)


def stop_started(timeout: float = 10.0) -> None:
    """Stop every worker this process started (at exit, and in tests)."""
    for name in list(_started):
        proc = _started.pop(name)
        with contextlib.suppress(Exception):
            launcher.stop_process(proc, timeout)


atexit.register(stop_started)


# --------------------------------------------------------------------------- one job


def job_detail(conn: redis.Redis, job_id: str) -> dict[str, Any]:
    """Everything the job page shows: the view, its replay, attempts and retry rows.

    Raises :class:`labs.jobs.UnknownJob` for an id the broker does not know.
    """
    view = jobs.job_view(conn, job_id)
    history = view["events"] or []
    replay = events.replay(events.job_events(conn, job_id)) if history else None
    discarded = any(e["event"] == "discarded" for e in history)
    return {
        "view": view,
        "replay": replay,
        "transitions": replay.transitions if replay else [],
        "attempts": attempt_rows(history),
        "retries": retry_rows(history, view.get("retry_plan") or []),
        "terminal": is_terminal(view["state"]),
        "in_dlq": bool(replay and replay.dead_lettered and not replay.redriven_to and not discarded),
    }


def attempt_rows(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per delivery attempt: worker, start, end, how it ended, the wait booked after it."""
    rows: list[dict[str, Any]] = []
    origin = history[0]["ts"] if history else 0.0
    for event in history:
        kind = event["event"]
        if kind == "started":
            rows.append(
                {"attempt": event["attempt"], "worker": event["worker"], "started": round(event["ts"] - origin, 3),
                 "ended": None, "outcome": "running", "error": "", "next_delay": None}
            )  # fmt: skip
        elif rows and kind in {"retry_scheduled", "completed", "failed", "timed_out", "abandoned", "cancelled"}:
            row = rows[-1]
            if row["outcome"] == "running" or kind == "retry_scheduled":
                row["ended"] = row["ended"] if row["ended"] is not None else round(event["ts"] - origin, 3)
                row["outcome"] = {"retry_scheduled": "retry"}.get(kind, kind) if row["outcome"] == "running" else row["outcome"]
                row["error"] = event.get("error") or row["error"]
                if kind == "retry_scheduled":
                    row["next_delay"] = event.get("delay")
    return rows


def retry_rows(history: list[dict[str, Any]], plan: list[float]) -> list[dict[str, Any]]:
    """Planned wait before each retry against the wait that really happened, in demo seconds.

    The actual wait is from the ``retry_scheduled`` event to the next ``started``,
    divided by ``LAB_TIME_SCALE`` so it is on the same clock as the plan.
    """
    scale = time_scale() or 1.0
    rows: list[dict[str, Any]] = []
    for number, delay in enumerate(plan, start=1):
        rows.append({"retry": number, "kind": "planned", "seconds": float(delay)})
    booked = [e for e in history if e["event"] == "retry_scheduled"]
    starts = [e for e in history if e["event"] == "started"]
    for number, event in enumerate(booked, start=1):
        later = next((s for s in starts if s["ts"] >= event["ts"] and s["attempt"] > event["attempt"]), None)
        if later is not None:
            rows.append({"retry": number, "kind": "actual", "seconds": round((later["ts"] - event["ts"]) / scale, 3)})
    return rows


def timeline_rows(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The job's events with times relative to its first event (for the event table)."""
    origin = history[0]["ts"] if history else 0.0
    return [
        {
            "t": round(e["ts"] - origin, 3),
            "event": e["event"],
            "state": e["state"],
            "attempt": e["attempt"],
            "worker": e["worker"],
            "message": e.get("message", ""),
            "id": e["id"],
        }
        for e in history
    ]


def cancel(conn: redis.Redis, job_id: str) -> str:
    return jobs.cancel(conn, job_id)


# --------------------------------------------------------------------------- the dead-letter queue


def dlq_total(conn: redis.Redis) -> int:
    """How many parcels the returns centre lists (every engine's; not the jobs cancelled mid-run RQ files with them)."""
    return dlq.count(conn)


def dlq_entries(conn: redis.Redis, limit: int = 50) -> list[dict[str, Any]]:
    """The newest returned jobs, with reason, error and attempt history."""
    return dlq.list_entries(conn, limit=limit)


def parse_params(text: str) -> dict[str, Any] | None:
    """Corrected params typed on the DLQ page: a JSON object, or None for "unchanged"."""
    import json

    from ..errors import InvalidParams

    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidParams(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidParams("the parameters must be a JSON object")
    return value


def redrive(conn: redis.Redis, job_id: str, params: dict[str, Any] | None) -> str:
    return dlq.redrive(conn, job_id, params)


def discard(conn: redis.Redis, job_id: str) -> None:
    dlq.discard(conn, job_id)


def purge(conn: redis.Redis) -> int:
    return dlq.purge(conn)


def sweep(conn: redis.Redis) -> str:
    """Submit the seed's ``handle_failed_tasks`` as a real job; return its id."""
    return jobs.submit(conn, "handle_failed_tasks", {"limit": 1000})


def failure_log(conn: redis.Redis, limit: int = 20) -> list[dict[str, Any]]:
    return dlq.failure_log(conn, limit)
