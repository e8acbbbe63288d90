"""No item is handed to a client that died while blocked in BLPOP/BLMOVE (issue 19).

A worker that dies while it waits for a job must not take the next job with it:
Redis drops the dead client; the embedded broker checks the connection at the
moment it would hand an item over. Each trial blocks three clients, kills them
(SIGKILL, or an exception that makes redis-py hang up), waits 0-100 ms, pushes
three items, and counts what is left for the living.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid

import pytest
import redis

from labs.settings import REPO_ROOT

VICTIMS = 3
DELAYS_MS = (0, 10, 30, 100)

VICTIM = """
import signal, sys, time, redis

class GiveUp(Exception):
    pass

def give_up(*_):
    raise GiveUp

signal.signal(signal.SIGUSR1, give_up)
url, name, command, key = sys.argv[1:]
conn = redis.Redis.from_url(url, client_name=name)
conn.ping()
print("ready", flush=True)
try:
    if command == "blpop":
        conn.blpop([key], 0)
    else:
        conn.blmove(key, key + ":taken", 0)
except BaseException as exc:
    print("raised", type(exc).__name__, flush=True)
time.sleep(60)
"""


def _blocked(conn: redis.Redis, prefix: str) -> int:
    return sum(1 for c in conn.client_list() if c.get("name", "").startswith(prefix) and "b" in c.get("flags", ""))


@pytest.mark.parametrize("command", ["blpop", "blmove"])
@pytest.mark.parametrize("death", ["sigkill", "exception"])
def test_a_client_that_died_while_blocked_takes_nothing(broker: str, command: str, death: str) -> None:
    conn = redis.Redis.from_url(broker)
    lost = []
    for delay_ms in DELAYS_MS:
        prefix = f"victim-{uuid.uuid4().hex[:8]}"
        key = f"lab:test:{prefix}"
        victims = [
            subprocess.Popen(
                [sys.executable, "-c", VICTIM, broker, f"{prefix}-{i}", command, key],
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for i in range(VICTIMS)
        ]
        try:
            for victim in victims:
                assert victim.stdout is not None and victim.stdout.readline().strip() == "ready"
            deadline = time.monotonic() + 20
            while _blocked(conn, prefix) < VICTIMS:
                assert time.monotonic() < deadline, conn.client_list()
                time.sleep(0.01)
            for victim in victims:
                victim.send_signal(signal.SIGKILL if death == "sigkill" else signal.SIGUSR1)
            for victim in victims:
                if death == "sigkill":
                    victim.wait(10)
                else:  # alive, but its connection is closed: redis-py hangs up on an exception
                    assert victim.stdout is not None and victim.stdout.readline().startswith("raised")
            time.sleep(delay_ms / 1000)
            for i in range(VICTIMS):
                conn.rpush(key, f"item-{i}")
            time.sleep(0.05)  # a dead client that took one would have it by now
            left = conn.lrange(key, 0, -1)
            lost.append((delay_ms, VICTIMS - len(left)))
            if left:  # what is left goes to the next live client
                assert redis.Redis.from_url(broker).blpop([key], 5) == (key.encode(), left[0])
        finally:
            for victim in victims:
                victim.kill()
                victim.wait(10)
            conn.delete(key, key + ":taken")
    assert lost == [(d, 0) for d in DELAYS_MS]


GROUP_VICTIM = """
import sys, redis
url, name, key = sys.argv[1:]
conn = redis.Redis.from_url(url, client_name=name)
conn.ping()
print("ready", flush=True)
conn.xreadgroup("workers", name, {key: ">"}, block=0)
"""


@pytest.mark.parametrize("delay_ms", [0, 30])
def test_a_consumer_that_died_in_xreadgroup_block_is_delivered_nothing(broker: str, delay_ms: int) -> None:
    """XREADGROUP would put the entry in the dead consumer's pending list, where no one reads it."""
    conn = redis.Redis.from_url(broker)
    prefix = f"reader-{uuid.uuid4().hex[:8]}"
    key = f"lab:test:{prefix}"
    conn.xgroup_create(key, "workers", id="0", mkstream=True)
    victim = subprocess.Popen([sys.executable, "-c", GROUP_VICTIM, broker, prefix, key], stdout=subprocess.PIPE, text=True)
    try:
        assert victim.stdout is not None and victim.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 20
        while _blocked(conn, prefix) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        victim.kill()
        victim.wait(10)
        time.sleep(delay_ms / 1000)
        conn.xadd(key, {"job": "1"})
        time.sleep(0.05)
        assert conn.xpending(key, "workers")["pending"] == 0
        got = conn.xreadgroup("workers", "alive", {key: ">"}, count=1, block=1000)
        assert got and got[0][1][0][1] == {b"job": b"1"}
    finally:
        victim.kill()
        victim.wait(10)
        conn.delete(key)
