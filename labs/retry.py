"""Retry with exponential backoff (类比6: 快递重新投递 / redelivery).

RQ has no exponential backoff of its own: ``Retry(max=..., interval=[...])``
takes a list of waits, which the worker's scheduler serves. This module turns a
policy (base, factor, cap, max retries, optional full jitter) into that list,
and :func:`plan` returns the schedule so a lesson can plot planned vs actual.

    delay(n) = min(cap, base * factor ** n)           n = 0, 1, 2, ...
    full jitter: uniform(0, delay(n))                  (AWS "Exponential Backoff And Jitter")
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from rq import Retry

from .clock import scaled


class RetryPolicy(BaseModel):
    """How often and how patiently to redeliver. Times are in demo seconds (scaled by LAB_TIME_SCALE)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_retries: int = Field(3, ge=0, le=20, description="redeliveries after the first attempt (seed: 3)")
    base: float = Field(1.0, ge=0, le=3600, description="first wait in seconds (seed: 1 s)")
    factor: float = Field(2.0, ge=1, le=10, description="each wait is this times the last (seed: 2)")
    cap: float = Field(60.0, ge=0, le=86400, description="no wait is longer than this")
    jitter: bool = Field(False, description="full jitter: wait a random time in [0, delay]")

    def delays(self, rng: random.Random | None = None) -> list[float]:
        """The planned waits in demo seconds, one per retry: 1, 2, 4, ... capped."""
        out = []
        for n in range(self.max_retries):
            delay = min(self.cap, self.base * self.factor**n)
            if self.jitter:
                delay = (rng or random).uniform(0, delay)
            out.append(round(delay, 6))
        return out


NO_RETRY = RetryPolicy(max_retries=0)


def plan(policy: RetryPolicy, rng: random.Random | None = None) -> list[dict[str, Any]]:
    """The planned schedule: for each retry, its number, wait and when it starts after the first failure."""
    rows = []
    elapsed = 0.0
    for number, delay in enumerate(policy.delays(rng), start=1):
        elapsed += delay
        rows.append({"retry": number, "delay": delay, "at": round(elapsed, 6)})
    return rows


def to_rq(delays: list[float]) -> Retry | None:
    """RQ's ``Retry`` for these planned waits (scaled by LAB_TIME_SCALE), or None for no retries."""
    if not delays:
        return None
    return Retry(max=len(delays), interval=[scaled(d) for d in delays])
