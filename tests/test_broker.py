"""The embedded broker, how processes find it, and `python -m labs up`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from labs import broker, jobs
from labs.broker import EmbeddedBroker, ensure_broker, get_connection, url_file
from labs.errors import BrokerUnavailable
from labs.settings import REPO_ROOT


def test_embedded_broker_is_found_through_its_url_file() -> None:
    with pytest.raises(BrokerUnavailable, match="no broker is running"):
        get_connection()
    with EmbeddedBroker() as emb:
        assert url_file().read_text().strip() == emb.url
        conn = get_connection()
        assert conn.ping()
        conn.xadd("s", {"a": "1"})  # streams work over TCP
        assert conn.xlen("s") == 1
    assert not url_file().exists()  # stopping removes it


def test_redis_url_wins_and_a_dead_one_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with EmbeddedBroker():
        monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
        with pytest.raises(BrokerUnavailable) as info:
            get_connection()
        assert "\n" not in str(info.value) and "check REDIS_URL" in str(info.value)


def test_ensure_broker_starts_one_in_the_background_and_reuses_it() -> None:
    url = ensure_broker()
    try:
        assert broker.is_alive(url)
        assert ensure_broker() == url  # the second call finds the same one
    finally:
        assert broker.stop_background_broker()
    assert not broker.is_alive(url)
    assert not broker.stop_background_broker()


def test_a_client_that_dies_while_blocked_does_not_swallow_the_next_item() -> None:
    """fakeredis alone would hand the next item to a dead BLMOVE; the lab's broker drops the dead client."""
    with EmbeddedBroker(write_url=False) as emb:
        victim = subprocess.Popen(
            [sys.executable, "-c", f"import redis; redis.Redis.from_url({emb.url!r}).blmove('q', 'q2', 30)"]
        )
        conn = redis.Redis.from_url(emb.url)
        time.sleep(2)  # the victim connects and blocks in BLMOVE
        victim.kill()
        victim.wait()
        time.sleep(0.3)
        conn.rpush("q", "parcel")
        assert conn.lrange("q", 0, -1) == [b"parcel"] and conn.llen("q2") == 0


def test_tcp_nodelay_is_set_on_broker_connections() -> None:
    with EmbeddedBroker(write_url=False) as emb:
        seen: list[int] = []
        original = emb.server.RequestHandlerClass.setup

        def spy(self) -> None:  # type: ignore[no-untyped-def]
            original(self)
            seen.append(self.request.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        emb.server.RequestHandlerClass.setup = spy
        redis.Redis.from_url(emb.url).ping()
        assert seen and all(seen)


def test_lab_up_starts_broker_and_workers_and_stops_them_on_ctrl_c(lab_env: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "labs", "up", "--workers", "2", "--no-api", "--no-dashboard", "--no-jupyter"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Ctrl-C" in line for line in lines):
            time.sleep(0.1)
        assert any(line.startswith("workers  : 2") for line in lines), lines
        conn = get_connection()
        result = jobs.wait_for(conn, jobs.submit(conn, "slow_task", {"steps": 2}), timeout=30)
        assert result.state == "completed"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    reader.join(5)
    assert any("stopped." in line for line in lines), lines
    assert not url_file().exists()
    leftovers = subprocess.run(["pgrep", "-f", f"labs worker --fork --name fork-worker-1-{proc.pid}"], capture_output=True)
    assert leftovers.stdout == b""


@pytest.mark.slow  # 40,000 stream entries: about a minute on the embedded broker
def test_a_large_reply_is_sent_whole() -> None:
    """fakeredis's socket is non-blocking; a long XRANGE used to be cut off mid-reply."""
    with EmbeddedBroker(write_url=False) as emb:
        conn = redis.Redis.from_url(emb.url)
        pipe = conn.pipeline(transaction=False)
        for i in range(40_000):
            pipe.xadd("big", {"job_id": f"job-{i}", "event": "progress", "message": "x" * 40})
        pipe.execute()
        entries = conn.xrange("big")
        assert len(entries) == 40_000 and entries[-1][1][b"job_id"] == b"job-39999"
        assert conn.ping()


def test_workers_started_by_the_lab_stop_when_their_starter_dies(broker: str) -> None:
    """A notebook kernel or a test that dies must not leave workers taking jobs."""
    starter = subprocess.run(
        [sys.executable, "-c", "from labs.launcher import start_worker; print(start_worker('fork', name='orphan-check').pid)"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )  # fmt: skip
    pid = int(starter.stdout.strip())
    conn = redis.Redis.from_url(broker)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    assert b"rq:worker:orphan-check" not in conn.smembers("rq:workers")
