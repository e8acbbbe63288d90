"""参考答案 / reference solution: exercise 5, an SSE stream that resumes from Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import redis

from labs import events
from labs.states import is_terminal


async def job_stream(
    conn: redis.Redis, job_id: str, last_event_id: str | None = None, poll: float = 0.2
) -> AsyncIterator[dict[str, Any]]:
    """The job's events as SSE messages, starting after ``last_event_id``, until the job is over."""
    cursor = last_event_id or None  # an empty header means "from the beginning"
    while True:
        batch = events.job_events(conn, job_id, after=cursor)  # strictly after the cursor: no duplicate
        for event in batch:
            yield {"id": event.id, "event": event.event, "data": json.dumps(event.to_dict())}
            cursor = event.id  # move on only past what was really sent: no gap
        if batch and batch[-1].terminal:
            return
        if not batch and is_terminal(events.current_state(conn, job_id) or ""):
            return  # the browser came back after the end
        await asyncio.sleep(poll)
