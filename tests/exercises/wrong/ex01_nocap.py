"""Wrong on purpose: exponential backoff that forgets the cap (the waits grow without limit)."""

from __future__ import annotations

import random


def backoff_delays(retries, base=1.0, factor=2.0, cap=60.0, jitter=False, rng=None):
    draw = rng or random
    delays = []
    for n in range(retries):
        delay = base * factor**n  # no min(cap, ...)
        delays.append(draw.uniform(0, delay) if jitter else delay)
    return delays
