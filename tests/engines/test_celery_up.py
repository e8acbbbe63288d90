"""`python -m labs up --engine all`: RQ, Celery and ARQ workers on one broker, and Flower listing the lab's Celery jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from labs import jobs
from labs.broker import get_connection
from labs.ports import free_port
from labs.settings import REPO_ROOT

pytestmark = pytest.mark.slow  # `labs up --engine celery` with Flower: the full lane, not test-fast


def test_up_with_every_engine_starts_celery_workers_and_flower(lab_env: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("FLOWER_BASIC_AUTH", None)
    command = [sys.executable, "-m", "labs", "up", "--engine", "all", "--workers", "1", "--celery-workers", "1",
               "--no-api", "--no-dashboard", "--no-jupyter", "--flower-port", str(port)]  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Ctrl-C" in line for line in lines):
            time.sleep(0.1)
        assert any(line.startswith("celery   : 1 x fork") for line in lines), lines
        assert any(line.startswith(f"flower   : http://127.0.0.1:{port}") for line in lines), lines
        assert any(line.startswith("arq      : 1 x async") for line in lines), lines
        conn = get_connection()
        on_rq = jobs.submit(conn, "noop", {"value": "rq"})
        on_celery = jobs.submit(conn, "send_email", {"fail_first": 1}, engine="celery")
        assert jobs.wait_for(conn, on_rq, timeout=30).state == "completed"
        assert jobs.wait_for(conn, on_celery, timeout=30).state == "completed"
        on_arq = jobs.submit(conn, "send_email", {"fail_first": 1}, engine="arq")
        assert jobs.wait_for(conn, on_arq, timeout=30).state == "completed"
        assert jobs.job_view(conn, on_arq)["events"][-1]["worker"].startswith("arq-worker-1-")  # the worker `up` started
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as flower:
            tasks: dict = {}
            while time.monotonic() < deadline + 30:
                try:
                    tasks = flower.get("/api/tasks").json()
                except httpx.HTTPError:
                    tasks = {}
                if tasks.get(on_celery, {}).get("state") == "SUCCESS":
                    break
                time.sleep(0.2)
            assert tasks[on_celery]["name"] == "labs.tasks.demo.send_email" and tasks[on_celery]["retries"] == 1
            assert on_rq not in tasks  # Flower sees Celery's jobs; the lab's board sees both
            assert tasks[on_celery]["worker"].startswith("celery-fork-worker-1-")  # the worker `up` started
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    reader.join(5)
    assert any("stopped." in line for line in lines), lines
