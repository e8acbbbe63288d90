"""Wrong on purpose: "WebSocket can do everything", so it is chosen every time."""

from __future__ import annotations

from labs.exercises.ex08_choose import SCENARIOS  # noqa: F401 - the checker reads it from this module


def choose(scenario):
    return "websocket", "WebSocket is the most powerful and real-time option"
