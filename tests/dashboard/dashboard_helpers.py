"""Helpers shared by the dashboard tests (importable, unlike conftest)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from labs.ports import free_port  # noqa: F401 - the dashboard tests import it from here
from labs.testing.api_process import ApiServer

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Block until something answers HTTP at ``url`` (fail early if ``proc`` died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing answers at {url}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def run_until(conn: object, done: Callable[[], bool], timeout: float = 30.0) -> None:
    """Run in-process burst workers until ``done()`` (a redelivery booked for "now" needs a second pass)."""
    from labs.worker import run_burst

    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the jobs did not get there in time")
        run_burst(conn)
        time.sleep(0.05)


def populate(conn: object, total: int) -> int:
    """``total`` real jobs: fifty run in-process (every fifth dead-lettered), the rest wait in the queue."""
    from labs import jobs
    from labs.worker import run_burst

    ran = min(50, total)
    for n in range(ran):
        jobs.submit(conn, "risky_task", {"data": {"n": n, "poison": n % 5 == 0}, "fail_fast": True})  # type: ignore[arg-type]
    run_burst(conn)
    for n in range(total - ran):
        jobs.submit(conn, "noop", {"value": n})  # type: ignore[arg-type]
    return total


@contextlib.contextmanager
def serve_api(redis_url: str, log_dir: Path) -> Iterator[str]:
    """The real lab API (``python -m labs api``, the testing kit's ApiServer) on a free port, on the broker at ``redis_url``."""
    env = {
        "REDIS_URL": redis_url,
        "LAB_TIME_SCALE": os.environ.get("LAB_TIME_SCALE", "0.05"),
        "LAB_STATE_DIR": os.environ.get("LAB_STATE_DIR", str(log_dir)),
    }
    with ApiServer(env=env) as server:
        yield server.url
