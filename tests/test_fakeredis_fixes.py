"""The embedded broker's fakeredis fixes, and the guard that checks the installed fakeredis."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time

import pytest
import redis

from labs.broker import EmbeddedBroker, fakeredis_fixes
from labs.broker.fakeredis_fixes import FakeredisMismatch
from labs.settings import REPO_ROOT


def test_the_pinned_fakeredis_is_one_the_fixes_were_written_for() -> None:
    assert fakeredis_fixes.installed_version() in fakeredis_fixes.WRITTEN_FOR
    assert fakeredis_fixes.check() is True
    assert fakeredis_fixes.missing_internals() == []


def test_another_version_with_the_internals_is_used_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=fakeredis_fixes.__name__):
        assert fakeredis_fixes.check("99.0.0") is False
    assert "fakeredis 99.0.0 is not a version" in caplog.text


def test_another_version_without_an_internal_fails_in_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import fakeredis._helpers

    monkeypatch.delattr(fakeredis._helpers, "casematch")
    with pytest.raises(FakeredisMismatch) as info:
        fakeredis_fixes.check("99.0.0")
    message = str(info.value)
    assert "\n" not in message
    assert "fakeredis 99.0.0 is installed" in message and "written for fakeredis 2.41.0" in message
    assert "fakeredis._helpers:casematch" in message
    assert fakeredis_fixes.check("2.41.0") is True  # the version written for is not probed


def test_a_socket_attribute_that_went_away_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fakeredis_fixes, "SOCKET_INTERNALS", ("_blocked", "_lab_no_such_attribute"))
    assert fakeredis_fixes.missing_internals() == ["fakeredis socket ._lab_no_such_attribute"]


def test_the_blmove_fix_is_skipped_where_blmove_already_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    from fakeredis.commands_mixins.list_mixin import ListCommandsMixin

    monkeypatch.delattr(ListCommandsMixin, "_lab_blmove_fixed", raising=False)
    original = ListCommandsMixin.blmove
    monkeypatch.setattr(fakeredis_fixes, "blmove_blocks", lambda: True)
    assert fakeredis_fixes.fix_blmove(probe=True) is False
    assert ListCommandsMixin.blmove is original


def test_the_pinned_fakeredis_still_needs_the_blmove_fix() -> None:
    """Unfixed (a fresh process: importing the fixes applies none), BLMOVE answers at once; fixed, it waits."""
    probe = "from labs.broker import fakeredis_fixes as f; print(f.blmove_blocks()); f.fix_blmove(); print(f.blmove_blocks())"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "True"], out.stderr


def test_the_embedded_broker_blocks_in_blmove_like_redis() -> None:
    with EmbeddedBroker(write_url=False) as emb:
        conn = redis.Redis.from_url(emb.url)
        started = time.monotonic()
        assert conn.blmove("empty", "other", 0.3) is None
        assert time.monotonic() - started >= 0.25


def test_the_pinned_fakeredis_has_no_info_and_the_fix_adds_it() -> None:
    """Unfixed, fakeredis 2.41 does not know INFO (RQ then assumes Redis 5.0.9); fixed, it answers."""
    probe = (
        "import fakeredis, redis; from labs.broker import fakeredis_fixes as f\n"
        "c = fakeredis.FakeRedis(version=(7, 4))\n"
        "try: c.info(); print('answers')\n"
        "except redis.ResponseError: print('unknown')\n"
        "f.fix_info(); print(c.info('server')['redis_version'])"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["unknown", "7.4.0"], out.stderr  # the version that fakeredis emulates


def test_redis_cli_info_answers_on_the_embedded_broker() -> None:
    with EmbeddedBroker(write_url=False) as emb:
        conn = redis.Redis.from_url(emb.url)
        conn.set("plain", "1")
        conn.set("expiring", "1", ex=100)
        out = subprocess.run(["redis-cli", "-p", str(emb.port), "info"], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        fields = dict(line.split(":", 1) for line in out.stdout.splitlines() if ":" in line)
        headers = [line for line in out.stdout.splitlines() if line.startswith("#")]
        sections = ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Keyspace"]
        assert headers == [f"# {name}" for name in sections]
        assert fields["redis_version"] == "8.0.0"  # the version fakeredis emulates
        assert fields["tcp_port"] == str(emb.port)
        assert int(fields["connected_clients"]) == 2  # conn and redis-cli
        assert int(fields["used_memory"]) > 10_000_000 and fields["used_memory_human"][-1] in "MG"
        assert fields["db0"].startswith("keys=2,expires=1,avg_ttl=")
        one = subprocess.run(["redis-cli", "-p", str(emb.port), "info", "clients"], capture_output=True, text=True, timeout=30)
        assert one.stdout.splitlines()[0] == "# Clients" and "redis_version" not in one.stdout
        # redis-py parses it (ARQ asks for sections one by one at worker start)
        assert conn.info("server")["redis_version"] == "8.0.0"
        assert conn.info("memory")["maxmemory_policy"] == "noeviction"
        assert conn.info("keyspace")["db0"]["keys"] == 2
        assert conn.info("nosuchsection") == {}


def test_info_counts_blocked_clients() -> None:
    with EmbeddedBroker(write_url=False) as emb:
        conn = redis.Redis.from_url(emb.url)
        waiter = threading.Thread(target=lambda: redis.Redis.from_url(emb.url).blpop(["q"], 5), daemon=True)
        waiter.start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and conn.info("clients")["blocked_clients"] == 0:
            time.sleep(0.02)
        assert conn.info("clients")["blocked_clients"] == 1
        conn.rpush("q", "x")
        waiter.join(5)
        assert conn.info("clients")["blocked_clients"] == 0


def test_rq_dequeues_with_blmove_on_the_embedded_broker() -> None:
    """With INFO answered RQ sees a Redis >= 6.2 and uses its reliable dequeue (BLMOVE to an intermediate queue)."""
    from rq import Queue
    from rq.utils import get_version

    with EmbeddedBroker(write_url=False) as emb:
        conn = redis.Redis.from_url(emb.url)
        assert get_version(conn) >= (6, 2, 0)
        sent: list[str] = []
        original = conn.execute_command

        def spy(*args: object, **options: object) -> object:
            sent.append(str(args[0]).upper())
            return original(*args, **options)

        conn.execute_command = spy  # type: ignore[method-assign]
        queue = Queue("blmove-check", connection=conn)
        pusher = threading.Timer(0.3, lambda: queue.enqueue("labs.no_such_module.f"))
        pusher.start()
        result = Queue.dequeue_any([queue], timeout=5, connection=conn)
        pusher.join()
        assert result is not None and result[1].name == "blmove-check"
        assert "BLMOVE" in sent and "BLPOP" not in sent


def test_the_pinned_fakeredis_still_needs_the_touch_and_client_list_fixes() -> None:
    """Unfixed, fakeredis 2.41 has no TOUCH and reports ``cmd=auth`` for every client; fixed, both are right."""
    probe = (
        "import fakeredis, redis; from labs.broker import fakeredis_fixes as f\n"
        "c = fakeredis.FakeRedis()\n"
        "c.set('k', 1)\n"
        "try: c.touch('k'); print('touch')\n"
        "except redis.ResponseError: print('no-touch')\n"
        "print(c.client_info()['cmd'])\n"
        "f.fix_touch(); f.fix_sockets()\n"
        "print(c.touch('k', 'absent'), c.client_info()['cmd'])"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["no-touch", "auth", "1", "client|info"], out.stderr
