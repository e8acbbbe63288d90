"""The lessons' run times, printed at the end of every run (even ``-q``): the lessons' budget is checked by reading them."""

from __future__ import annotations

from collections import defaultdict

import pytest

BUDGET_SECONDS = 240
"""All lessons together, per broker, in CI (the lessons issue's budget)."""

_times: dict[str, dict[str, float]] = defaultdict(dict)


@pytest.fixture
def lesson_time():
    """Record one lesson's run: ``lesson_time(broker, notebook, seconds)``."""

    def record(broker: str, notebook: str, seconds: float) -> None:
        _times[broker][notebook] = seconds

    return record


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    for broker, lessons in sorted(_times.items()):
        total = sum(lessons.values())
        each = ", ".join(f"{name[:2]} {seconds:.0f}" for name, seconds in sorted(lessons.items()))
        over = f" (over the {BUDGET_SECONDS} s budget)" if total > BUDGET_SECONDS and len(lessons) > 10 else ""
        terminalreporter.write_line(f"lessons on {broker}: {len(lessons)} in {total:.0f} s{over} [{each}]")
