"""Reference solution for exercise 9 (for instructors): honour Retry-After, retry only a 429."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx


def submit_all(client: httpx.Client, jobs: list[dict[str, Any]], *, sleep: Callable[[float], Any] = time.sleep) -> list[str]:
    """Submit every job once, waiting ``Retry-After`` seconds after each 429; the ids in order."""
    ids = []
    for job in jobs:
        while True:
            response = client.post("/tasks", json=job)
            if response.status_code != 429:
                break
            sleep(float(response.headers.get("Retry-After", "1")))  # the server says when: no guessing
        response.raise_for_status()  # a 422 stays a 422 however long we wait
        ids.append(response.json()["id"])
    return ids
