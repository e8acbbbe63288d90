"""Wrong on purpose: ignores Last-Event-ID, so a reconnecting browser gets the whole story again."""

from __future__ import annotations

import asyncio
import json

from labs import events


async def job_stream(conn, job_id, last_event_id=None, poll=0.2):
    cursor = None  # should start from last_event_id
    while True:
        batch = events.job_events(conn, job_id, after=cursor)
        for event in batch:
            yield {"id": event.id, "event": event.event, "data": json.dumps(event.to_dict())}
            cursor = event.id
        if batch and batch[-1].terminal:
            return
        if not batch and (events.current_state(conn, job_id) or "") in {"completed", "failed"}:
            return
        await asyncio.sleep(poll)
