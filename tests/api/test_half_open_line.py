"""The half-open line (lesson 07): through a frozen relay nothing passes and nothing closes; only a heartbeat finds it dead."""

from __future__ import annotations

import threading
import time
from typing import Any

from api_helpers import LiveServer

from labs.api.ws import heartbeat_seconds
from labs.client import Heartbeat, LabClient, Message
from labs.lessons.show import Relay

NO_KEEPALIVE = {"ping_interval": None}
"""websockets' own keepalive pings are a heartbeat too: off, so the plain call has none."""


def wait_for(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def listen(call: Any, heard: list[Message], ending: list[str]) -> None:
    """A client with no heartbeat: it waits for the next frame, however long that takes."""
    try:
        heard.extend(call)
        ending.append("closed")
    except Exception as exc:  # noqa: BLE001 - the way the line ended is what the test reads
        ending.append(type(exc).__name__)


def test_a_frozen_line_is_found_only_by_the_heartbeat(broker: str, live_api: LiveServer) -> None:
    relay = Relay(live_api.port).start()
    try:
        with LabClient(relay.url) as api:
            job_id = api.submit("slow_task", {"steps": 3})  # no worker: pending, a quiet call that never ends
            with api.connect_ws(job_id, **NO_KEEPALIVE) as plain, api.connect_ws(job_id, **NO_KEEPALIVE) as beating:
                heard: list[Message] = []
                ending: list[str] = []
                listener = threading.Thread(target=listen, args=(plain, heard, ending), daemon=True)
                listener.start()
                heartbeat = Heartbeat(beating, interval=heartbeat_seconds() / 2, missed=2)
                beat = threading.Thread(target=heartbeat.run, daemon=True)
                beat.start()
                wait_for(lambda: "pong" in heartbeat.log and heard)  # the line works both ways

                relay.freeze()
                beat.join(timeout=10)
                assert not beat.is_alive() and heartbeat.dead_at is not None
                last_pong = len(heartbeat.log) - heartbeat.log[::-1].index("pong")
                assert "missed" not in heartbeat.log[:last_pong]  # answered until the freeze,
                assert heartbeat.log[last_pong:] == ["ping", "missed", "ping", "missed", "dead"]  # then two unanswered

                before = len(heard)
                time.sleep(2 * heartbeat_seconds())  # the server sends a heartbeat meanwhile; the relay holds it
                assert len(heard) == before and listener.is_alive() and not ending  # no frame, no close, no error
                assert plain.close_code is None and relay.frozen

                relay.thaw()  # the held bytes pass: the plain call was open all along
                wait_for(lambda: len(heard) > before)
                assert listener.is_alive() and not ending, [m.type for m in heard]  # the same call hears again

                relay.cut()  # a clean cut, by contrast, is seen without any heartbeat
                listener.join(timeout=10)
                assert ending == ["ConnectionClosedError"]
    finally:
        relay.stop()
