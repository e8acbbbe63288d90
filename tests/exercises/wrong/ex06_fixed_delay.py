"""Wrong on purpose: redials after the same wait every time (no exponential backoff)."""

from __future__ import annotations

import asyncio
import json

import websockets
from websockets.asyncio.client import connect


async def follow(url, *, base=0.5, cap=8.0, max_reconnects=10, sleep=asyncio.sleep):
    received, last_id = [], None
    for redial in range(max_reconnects + 1):
        if redial:
            await sleep(base)  # always the same wait
        try:
            async with connect(url) as ws:
                await ws.send(json.dumps({"action": "resume", "after": last_id}))
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("type") != "event" or message["id"] in {m["id"] for m in received}:
                        continue
                    received.append(message)
                    last_id = message["id"]
                    if message.get("state") in {"completed", "failed"}:
                        return received
        except (OSError, websockets.exceptions.WebSocketException):
            pass
    raise ConnectionError("gave up")
