"""Wrong on purpose: resumes and backs off correctly, but keeps an event the server sends twice."""

from __future__ import annotations

import asyncio
import json

import websockets
from websockets.asyncio.client import connect


async def follow(url, *, base=0.5, cap=8.0, max_reconnects=10, sleep=asyncio.sleep):
    received, last_id, failures = [], None, 0
    for redial in range(max_reconnects + 1):
        if redial:
            await sleep(min(cap, base * 2**failures))
            failures += 1
        try:
            async with connect(url) as ws:
                await ws.send(json.dumps({"action": "resume", "after": last_id}))
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("type") != "event":
                        continue
                    received.append(message)  # even when it is one we already have
                    last_id, failures = message["id"], 0
                    if message.get("state") in {"completed", "failed"}:
                        return received
        except (OSError, websockets.exceptions.WebSocketException):
            pass
    raise ConnectionError("gave up")
