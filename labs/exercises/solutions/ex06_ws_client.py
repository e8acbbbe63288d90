"""参考答案 / reference solution: exercise 6, a WebSocket client that reconnects and resumes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import websockets
from websockets.asyncio.client import connect

TERMINAL = {"completed", "failed"}


async def follow(
    url: str,
    *,
    base: float = 0.5,
    cap: float = 8.0,
    max_reconnects: int = 10,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> list[dict[str, Any]]:
    """Every event of the job at ``url``, each once, redialling with backoff when the line drops."""
    received: list[dict[str, Any]] = []
    seen: set[str] = set()
    last_id = None
    failures = 0  # failed connections since the last event received
    for redial in range(max_reconnects + 1):
        if redial:
            await sleep(min(cap, base * 2**failures))
            failures += 1
        try:
            async with connect(url, open_timeout=5) as ws:
                await ws.send(json.dumps({"action": "resume", "after": last_id}))
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("type") != "event" or message.get("id") in seen:
                        continue  # a heartbeat or an ack, or an event sent again (at-least-once)
                    seen.add(message["id"])
                    received.append(message)
                    last_id = message["id"]
                    failures = 0  # a new event: the line works, the next drop starts the backoff again
                    if message.get("state") in TERMINAL:
                        return received  # leaving `async with` closes the call politely
        except (OSError, websockets.exceptions.WebSocketException):
            pass  # dropped, refused or unreachable: redial
    raise ConnectionError(f"gave up after {max_reconnects} reconnects")
