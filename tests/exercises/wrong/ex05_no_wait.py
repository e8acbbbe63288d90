"""Wrong on purpose: sends what is there and stops; it never waits for the events still to come."""

from __future__ import annotations

import json

from labs import events


async def job_stream(conn, job_id, last_event_id=None, poll=0.2):
    for event in events.job_events(conn, job_id, after=last_event_id or None):
        yield {"id": event.id, "event": event.event, "data": json.dumps(event.to_dict())}
