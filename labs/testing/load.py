"""A burst of submissions through the API from many concurrent clients (:class:`labs.client.AsyncLabClient`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from ..client import ApiError, AsyncLabClient


@dataclass
class Load:
    """What a burst of submissions through the API got back."""

    ids: list[str]
    statuses: dict[int, int]
    """How many answers of each HTTP status (599: the request itself failed)."""
    errors: list[str]
    seconds: float

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    @property
    def rate(self) -> float:
        return len(self.ids) / self.seconds if self.seconds else 0.0


def submit_load(
    base_url: str,
    jobs: int,
    clients: int = 50,
    task: str = "noop",
    params: Callable[[int], dict[str, Any]] = lambda i: {"value": i},
    timeout: float = 60.0,
) -> Load:
    """Submit ``jobs`` jobs with ``POST /tasks`` from ``clients`` concurrent HTTP clients (one connection each)."""

    async def run() -> Load:
        ids: list[str] = []
        statuses: dict[int, int] = {}
        errors: list[str] = []
        counter = iter(range(jobs))

        async def client_loop() -> None:
            async with AsyncLabClient(base_url, timeout=timeout) as client:
                for i in counter:
                    try:
                        ids.append(await client.submit(task, params(i)))
                    except ApiError as exc:
                        statuses[exc.status] = statuses.get(exc.status, 0) + 1
                        if len(errors) < 20:
                            errors.append(f"{exc.status}: {exc.detail[:200]}")
                        continue
                    except httpx.HTTPError as exc:
                        statuses[599] = statuses.get(599, 0) + 1
                        errors.append(f"{type(exc).__name__}: {exc}")
                        continue
                    statuses[202] = statuses.get(202, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(clients)))
        return Load(ids, statuses, errors, time.perf_counter() - start)

    return asyncio.run(run())
