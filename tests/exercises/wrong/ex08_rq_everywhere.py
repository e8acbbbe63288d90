"""Wrong on purpose: "RQ is the simplest, so it is always RQ" — right for a click, wrong for many waits."""

from __future__ import annotations

from labs.exercises.ex08_choose import NEEDS, SCENARIOS  # noqa: F401 - the checker reads them from this module
from labs.exercises.solutions.ex08_choose import choose  # noqa: F401 - part one is right


def choose_engine(need):
    return "rq", "RQ is the simplest queue: one Redis, a plain function"
