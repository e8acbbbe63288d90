"""Wrong on purpose: "ARQ is async, so it is fastest at everything" — right for many waits, wrong for a click."""

from __future__ import annotations

from labs.exercises.ex08_choose import NEEDS, SCENARIOS  # noqa: F401 - the checker reads them from this module
from labs.exercises.solutions.ex08_choose import choose  # noqa: F401 - part one is right


def choose_engine(need):
    if need.get("web_monitor"):
        return "celery", "Flower"
    return "arq", "async is the fastest: asyncio never blocks"
