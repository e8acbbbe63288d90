"""Starting, listing and stopping the lab's processes (workers, API, dashboard)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
from rq import Worker

from .engines import get_engine, names
from .settings import REPO_ROOT, child_environment, state_dir
from .task_queue import SERIALIZER


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "labs", *args]


def spawn(cmd: list[str], name: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own session, logging to ``<state dir>/logs/<name>.log``."""
    logs = state_dir() / "logs"
    logs.mkdir(exist_ok=True)
    out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(
        cmd,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=str(REPO_ROOT),
        env=child_environment(env),
        start_new_session=True,
    )


def start_worker(
    kind: str = "fork", name: str | None = None, env: dict[str, str] | None = None, engine: str = "rq"
) -> subprocess.Popen[bytes]:
    """Start a worker of ``engine`` (``python -m labs worker``) as a background process; it stops when this process ends."""
    if engine == "rq":
        args = python_cmd("worker", f"--{kind}", *(["--name", name] if name else []))
    else:
        args = get_engine(engine).worker_command(kind, name)
    env = {"LAB_PARENT_PID": str(os.getpid()), **(env or {})}
    return spawn(args, name or f"worker-{int(time.time() * 1000)}", env)


def engine_workers(conn: redis.Redis, engine: str = "rq") -> list[dict[str, Any]]:
    """The live workers of ``engine`` (RQ's: :func:`workers`), each with its ``engine``."""
    if engine == "rq":
        return [{**w, "engine": "rq"} for w in workers(conn)]
    return get_engine(engine).workers(conn)


def all_workers(conn: redis.Redis) -> list[dict[str, Any]]:
    """Every engine's live workers, RQ's first: what the board, the workers page and ``/health`` count."""
    return [w for engine in names() for w in engine_workers(conn, engine)]


def find_worker(conn: redis.Redis, name: str, engine: str | None = None) -> dict[str, Any]:
    """The live worker called ``name`` (on any engine unless ``engine`` is given); KeyError if none."""
    found = engine_workers(conn, engine) if engine else all_workers(conn)
    info = next((w for w in found if w["name"] == name), None)
    if info is None:
        raise KeyError(f"no live worker named {name!r}")
    return info


def workers(conn: redis.Redis) -> list[dict[str, Any]]:
    """The live RQ workers on every queue (a lesson's own as well as the lab's): name, queue, kind, state, current job,
    counts, pids."""
    out = []
    for worker in Worker.all(connection=conn, serializer=SERIALIZER):
        raw = {k.decode(): v.decode() for k, v in conn.hgetall(worker.key).items()}
        out.append(
            {
                "name": worker.name,
                "queue": ",".join(worker.queue_names()),
                "kind": raw.get("lab_kind", "rq"),
                "state": raw.get("state", ""),
                "current_job": worker.get_current_job_id(),
                "successful": int(raw.get("successful_job_count", 0) or 0),
                "failed": int(raw.get("failed_job_count", 0) or 0),
                "pid": int(raw.get("pid", 0) or 0),
                "horse_pid": int(raw.get("horse_pid", 0) or 0),
                "hostname": raw.get("hostname", ""),
                "last_heartbeat": raw.get("last_heartbeat", ""),
            }
        )
    return sorted(out, key=lambda w: w["name"])


def _is_local(info: dict[str, Any]) -> bool:
    import socket

    return info["hostname"] in {socket.gethostname(), ""}


def stop_worker(conn: redis.Redis, name: str, engine: str | None = None) -> None:
    """Ask a worker to finish its current job and stop (RQ's shutdown command, Celery's ``control.shutdown``)."""
    engine = engine or find_worker(conn, name)["engine"]
    if engine == "rq":
        from rq.command import send_shutdown_command

        send_shutdown_command(conn, name)
    else:
        get_engine(engine).stop_worker(conn, name)


def kill_worker(conn: redis.Redis, name: str, engine: str | None = None) -> dict[str, Any]:
    """SIGKILL a local worker and its work horse (Celery: its pool's children) mid-job, as a crash would."""
    info = find_worker(conn, name, engine)
    if not _is_local(info):
        raise PermissionError(f"worker {name} runs on {info['hostname']}, not on this machine")
    killed = []
    for pid in (info["pid"], info.get("horse_pid", 0) if info["current_job"] else 0):
        if not pid:
            continue
        try:
            if os.getpgid(pid) == pid:  # leads its own group (started by the lab): its scheduler child dies too
                os.killpg(pid, signal.SIGKILL)
            else:
                for child in _children(pid):
                    os.kill(child, signal.SIGKILL)
                os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass
    return {"name": name, "killed": killed, "job": info["current_job"]}


def _children(pid: int) -> list[int]:
    """The direct children of ``pid`` (Linux), e.g. a worker's scheduler process."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(child) for child in path.read_text().split()]
    except OSError:
        return []


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM a child's whole session, then SIGKILL what is left after ``timeout``."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def wait_for_workers(conn: redis.Redis, count: int = 1, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Block until at least ``count`` RQ workers are registered (on any queue)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = workers(conn)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise TimeoutError(f"fewer than {count} workers registered after {timeout} s; see {state_dir() / 'logs'}")


def app_path() -> Path:
    return REPO_ROOT / "app.py"
