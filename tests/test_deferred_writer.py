"""events.DeferredWriter: a worker's last event sent now, its reply read later, never lost (both brokers)."""

from __future__ import annotations

import redis

from labs import events


def test_a_deferred_append_is_in_the_log_before_its_reply_is_read(conn: redis.Redis) -> None:
    events.emit(conn, "j1", "enqueued", "pending", task="noop")
    events.emit(conn, "j1", "started", "running", task="noop", attempt=1)
    conn.hset("lab:test:running", "j1", "w")
    writer = events.DeferredWriter(conn)
    writer.emit(
        "j1", "completed", "completed", before=[("HDEL", "lab:test:running", "j1")], task="noop", attempt=1, engine="celery"
    )
    deadline = 50
    while events.current_state(conn, "j1") != "completed" and deadline:  # Redis runs it without being waited for
        deadline -= 1
        conn.ping()
    assert events.current_state(conn, "j1") == "completed" and not conn.hexists("lab:test:running", "j1")
    assert writer.collect() == 1 and writer.collect() == 0
    history = events.job_events(conn, "j1")
    assert [e.event for e in history] == ["enqueued", "started", "completed"]
    assert history[-1].data["engine"] == "celery" and history[-1].attempt == 1


def test_an_append_whose_reply_is_lost_is_appended_again_once(conn: redis.Redis) -> None:
    events.emit(conn, "j2", "enqueued", "pending", task="noop")
    events.emit(conn, "j2", "started", "running", task="noop", attempt=1)
    writer = events.DeferredWriter(conn)
    writer.emit("j2", "completed", "completed", task="noop", attempt=1)
    writer._connection.disconnect()  # the line drops before the reply is read
    writer.collect()
    assert [e.event for e in events.job_events(conn, "j2")] == ["enqueued", "started", "completed"]  # terminal is final


def test_an_append_that_cannot_be_sent_is_made_at_once(conn: redis.Redis) -> None:
    events.emit(conn, "j3", "enqueued", "pending", task="noop")
    writer = events.DeferredWriter(conn)
    writer._connection = BrokenConnection()
    writer.emit("j3", "cancelled", "failed", task="noop", reason="cancelled")
    assert writer.collect() == 0 and events.current_state(conn, "j3") == "failed"


class BrokenConnection:
    def pack_commands(self, commands: list[tuple[object, ...]]) -> list[bytes]:
        return [b""]

    def send_packed_command(self, command: object) -> None:
        raise redis.ConnectionError("the broker went away")

    def disconnect(self) -> None:
        pass


def test_appends_survive_a_script_flush(conn: redis.Redis) -> None:
    """EVALSHA without SCRIPT EXISTS: a server that forgot the script (restart, SCRIPT FLUSH) gets it again."""
    events.emit(conn, "j4", "enqueued", "pending", task="noop")
    conn.script_flush()
    events.emit(conn, "j4", "started", "running", task="noop", attempt=1, also=lambda pipe: pipe.set("lab:test:also", "1"))
    writer = events.DeferredWriter(conn)
    writer.emit("j6", "enqueued", "pending", task="noop")
    writer.collect()  # the line is open (and taught the script): the next flush gets a NOSCRIPT on it
    conn.script_flush()
    writer.emit("j4", "completed", "completed", task="noop", attempt=1)
    writer.emit("j5", "enqueued", "pending", task="noop")  # the line stays in step after an error reply
    assert writer.collect() == 2
    assert [e.event for e in events.job_events(conn, "j4")] == ["enqueued", "started", "completed"]
    assert [e.event for e in events.job_events(conn, "j5")] == ["enqueued"] and conn.get("lab:test:also") == b"1"


def test_a_new_line_to_a_server_without_the_script_appends_at_once(conn: redis.Redis) -> None:
    """A restarted server has no scripts: the writer's first send on a new line loads it, unwaited."""
    events.emit(conn, "j7", "enqueued", "pending", task="noop")
    events.emit(conn, "j7", "started", "running", task="noop", attempt=1)
    conn.script_flush()
    writer = events.DeferredWriter(conn)
    writer.emit("j7", "completed", "completed", task="noop", attempt=1)
    deadline = 50
    while events.current_state(conn, "j7") != "completed" and deadline:  # in the log before any collect()
        deadline -= 1
        conn.ping()
    assert events.current_state(conn, "j7") == "completed"
    assert writer.collect() == 1 and [e.event for e in events.job_events(conn, "j7")] == ["enqueued", "started", "completed"]
