"""TOUCH, CLIENT LIST and CLIENT KILL answer as Redis's do (issue 19), on both brokers."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from urllib.parse import urlparse

import pytest
import redis


def _resp(*words: bytes) -> bytes:
    return b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words)


def _ours(conn: redis.Redis, prefix: str) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in conn.client_list() if c.get("name", "").startswith(prefix)}


def test_touch_counts_the_keys_that_exist(broker: str) -> None:
    conn = redis.Redis.from_url(broker)
    conn.set("lab:test:touch", "1")
    assert conn.touch("lab:test:touch", "lab:test:absent", "lab:test:touch") == 2
    assert conn.touch("lab:test:absent") == 0


def test_client_list_shows_each_clients_database_and_last_command(broker: str) -> None:
    prefix = f"lister-{uuid.uuid4().hex[:8]}"
    base = broker.rsplit("/", 1)[0]
    one = redis.Redis.from_url(f"{base}/3", client_name=f"{prefix}-db3")
    one.get("lab:test:x")
    two = redis.Redis.from_url(broker, client_name=f"{prefix}-blocked")
    waiter = threading.Thread(target=lambda: two.blpop(["lab:test:nothing"], 2), daemon=True)
    waiter.start()
    conn = redis.Redis.from_url(broker)
    deadline = time.monotonic() + 5
    while "b" not in _ours(conn, prefix).get(f"{prefix}-blocked", {}).get("flags", ""):
        assert time.monotonic() < deadline, conn.client_list()
        time.sleep(0.01)
    clients = _ours(conn, prefix)
    assert clients[f"{prefix}-db3"]["db"] == "3" and clients[f"{prefix}-db3"]["cmd"] == "get"
    assert clients[f"{prefix}-blocked"]["cmd"] == "blpop"
    assert clients[f"{prefix}-blocked"]["db"] == broker.rsplit("/", 1)[1]
    me = conn.client_info()
    assert me["cmd"] == "client|info"
    waiter.join(5)


def test_client_kill_closes_the_connection(broker: str) -> None:
    """The killed client sees its connection closed, at once, whether idle or blocked (not an error reply)."""
    url = urlparse(broker)
    idle = socket.create_connection((url.hostname, url.port))
    idle.sendall(_resp(b"CLIENT", b"SETNAME", b"kill-idle"))
    assert idle.recv(100) == b"+OK\r\n"
    blocked = redis.Redis.from_url(broker, client_name="kill-blocked")
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            blocked.blpop(["lab:test:nothing"], 10)
        except redis.ConnectionError as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    conn = redis.Redis.from_url(broker)
    deadline = time.monotonic() + 5
    while "b" not in _ours(conn, "kill-blocked").get("kill-blocked", {}).get("flags", ""):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    ids = {name: int(c["id"]) for name, c in _ours(conn, "kill-").items()}
    assert conn.client_kill_filter(_id=ids["kill-idle"]) == 1
    idle.settimeout(2)
    assert idle.recv(100) == b""  # closed, no error reply
    started = time.monotonic()
    assert conn.client_kill_filter(_id=ids["kill-blocked"]) == 1
    waiter.join(5)
    assert outcome and "closed" in str(outcome[0]).lower()
    assert time.monotonic() - started < 2  # not its 10 s timeout
    assert "kill-idle" not in _ours(conn, "kill-") and "kill-blocked" not in _ours(conn, "kill-")


def test_a_client_that_kills_itself_gets_its_reply_then_the_connection_closes(broker: str) -> None:
    url = urlparse(broker)
    me = socket.create_connection((url.hostname, url.port))
    me.sendall(_resp(b"CLIENT", b"ID"))
    my_id = me.recv(100).strip().lstrip(b":")
    me.sendall(_resp(b"CLIENT", b"KILL", b"ID", my_id, b"SKIPME", b"no"))
    me.settimeout(2)
    reply = b""
    while True:
        chunk = me.recv(100)
        if not chunk:
            break
        reply += chunk
    assert reply == b":1\r\n"


@pytest.mark.parametrize("bad", [["CLIENT", "KILL", "ID", "nope"], ["CLIENT", "KILL", "ID", "999999999"]])
def test_client_kill_of_no_one_or_nonsense_is_a_clear_answer(broker: str, bad: list[str]) -> None:
    conn = redis.Redis.from_url(broker)
    try:
        assert conn.execute_command(*bad) == 0
    except redis.ResponseError as exc:
        assert "client-id" in str(exc) or "syntax" in str(exc)
    assert conn.ping()
