"""Helpers for the API tests: a uvicorn server in a thread, and small polling loops."""

from __future__ import annotations

import time
from typing import Any

from labs.api import BackgroundServer

LiveServer = BackgroundServer
"""uvicorn serving a fresh app in a thread, for real HTTP and WebSocket clients."""


def submit(client: Any, task: str, params: dict[str, Any] | None = None, **extra: Any) -> str:
    response = client.post("/tasks", json={"task": task, "params": params or {}, **extra})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def wait_state(client: Any, job_id: str, states: set[str], timeout: float = 30) -> dict[str, Any]:
    """Poll GET /tasks/{id} until the job is in one of ``states``; return its view."""
    deadline = time.monotonic() + timeout
    while True:
        view = client.get(f"/tasks/{job_id}").json()
        if view["state"] in states:
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {view['state']} after {timeout} s")
        time.sleep(0.02)


def wait_event(client: Any, job_id: str, event: str, count: int = 1, timeout: float = 30) -> dict[str, Any]:
    """Poll until the job has recorded ``count`` events of type ``event``."""
    deadline = time.monotonic() + timeout
    while True:
        view = client.get(f"/tasks/{job_id}").json()
        if sum(e["event"] == event for e in view["events"]) >= count:
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id}: fewer than {count} {event!r} events after {timeout} s")
        time.sleep(0.02)
