"""Wrong on purpose: an endless loop (the check must stop it and say so)."""

from __future__ import annotations

from labs.exercises.ex08_choose import SCENARIOS  # noqa: F401


def choose(scenario):
    while True:
        pass
