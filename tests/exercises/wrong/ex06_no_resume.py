"""Wrong on purpose: redials with backoff, but asks for everything again each time (duplicates)."""

from __future__ import annotations

import asyncio
import json

import websockets
from websockets.asyncio.client import connect


async def follow(url, *, base=0.5, cap=8.0, max_reconnects=10, sleep=asyncio.sleep):
    received, failures = [], 0
    for redial in range(max_reconnects + 1):
        if redial:
            await sleep(min(cap, base * 2**failures))
            failures += 1
        try:
            async with connect(url) as ws:
                await ws.send(json.dumps({"action": "resume", "after": None}))  # forgets what it already has
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("type") != "event":
                        continue
                    received.append(message)
                    failures = 0
                    if message.get("state") in {"completed", "failed"}:
                        return received
        except (OSError, websockets.exceptions.WebSocketException):
            pass
    raise ConnectionError("gave up")
