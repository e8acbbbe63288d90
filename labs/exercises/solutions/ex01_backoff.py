"""参考答案 / reference solution: exercise 1, exponential backoff with jitter and a cap."""

from __future__ import annotations

import random


def backoff_delays(
    retries: int,
    base: float = 1.0,
    factor: float = 2.0,
    cap: float = 60.0,
    jitter: bool = False,
    rng: random.Random | None = None,
) -> list[float]:
    """The waits (seconds) before retry 1, 2, ... ``retries``."""
    draw = rng or random
    delays = []
    for n in range(retries):
        delay = min(cap, base * factor**n)  # the cap applies before the jitter
        if jitter:
            delay = draw.uniform(0, delay)  # full jitter: anywhere between 0 and the wait
        delays.append(delay)
    return delays
