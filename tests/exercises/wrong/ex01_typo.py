"""Wrong on purpose: a bug that raises TypeError (the check must report it in one line, with the line number)."""

from __future__ import annotations


def backoff_delays(retries, base=1.0, factor=2.0, cap=60.0, jitter=False, rng=None):
    return [min(cap, base * factor**n) + "s" for n in range(retries)]
