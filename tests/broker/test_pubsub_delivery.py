"""A published message reaches an idle subscriber at once, as on Redis (issue 19: RQ's worker commands).

RQ sends ``stop-job``, ``shutdown`` and ``stop-execution`` to a worker over
pub/sub, and RQ's own tests give the worker 0.1 s to act on them. fakeredis's
TCP server sent a published message only at its handler's next poll (every
10 ms), so on a loaded machine that margin went; now the handler is woken.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid

import pytest
import redis

from labs.broker import EmbeddedBroker, fakeredis_fixes

ROUNDS = 30


def _delivery_ms(url: str, rounds: int = ROUNDS) -> list[float]:
    """Milliseconds from PUBLISH to the subscriber's handler, for a subscriber shaped like RQ's worker's."""
    channel = f"lab:test:pubsub:{uuid.uuid4().hex[:8]}"
    got = threading.Event()
    received: list[float] = []

    def handler(_message: object) -> None:
        received.append(time.perf_counter())
        got.set()

    pubsub = redis.Redis.from_url(url).pubsub()
    pubsub.subscribe(**{channel: handler})
    thread = pubsub.run_in_thread(sleep_time=0.2, daemon=True)  # as RQ's worker listens for its commands
    publisher = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 5
        while publisher.pubsub_numsub(channel)[0][1] == 0:
            assert time.monotonic() < deadline, "the subscriber never subscribed"
            time.sleep(0.01)
        delays = []
        for _ in range(rounds):
            got.clear()
            sent = time.perf_counter()
            assert publisher.publish(channel, "ping") == 1
            assert got.wait(2), "a message was not delivered within 2 s"
            delays.append((received[-1] - sent) * 1000)
            time.sleep(0.023)  # not a multiple of a poll interval: the messages come at every phase of a poll
        return delays
    finally:
        thread.stop()
        thread.join(2)


def test_a_published_message_reaches_an_idle_subscriber_within_a_few_ms(broker: str) -> None:
    delays = _delivery_ms(broker)
    # Redis: ~0.5 ms; fakeredis's 10 ms poll gave a median of 5-10 ms
    assert statistics.median(delays) < 4, sorted(delays)


def test_the_embedded_broker_wakes_a_subscriber_rather_than_waiting_for_its_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the idle handler's poll made 1 s long, messages still arrive in milliseconds: they wake it."""
    monkeypatch.setattr(fakeredis_fixes, "IDLE_WAIT", 1.0)
    with EmbeddedBroker(write_url=False) as emb:
        delays = _delivery_ms(emb.url, rounds=10)
    assert max(delays) < 200 and statistics.median(delays) < 20, sorted(delays)
