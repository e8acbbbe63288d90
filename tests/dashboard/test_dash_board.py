"""The live board: an incremental reader of the global event stream, fed by real jobs."""

from __future__ import annotations

import redis
from dashboard_helpers import run_until

from labs import dlq, events, jobs
from labs.dashboard.board import COLUMNS, OTHER, Board
from labs.worker import run_burst


def test_board_follows_real_jobs_through_the_columns(conn: redis.Redis) -> None:
    board = Board()
    assert board.update(conn) == 0 and board.total == 0
    ok = [jobs.submit(conn, "risky_task", {"data": {"n": n}}) for n in range(3)]
    poison = jobs.submit(conn, "risky_task", {"data": {"poison": True}}, retry={"max_retries": 1, "base": 0})
    assert board.update(conn) == 4
    assert board.column_counts() == {"pending": 4, "running": 0, "retrying": 0, "completed": 0, "failed": 0, "dead_lettered": 0}
    run_until(conn, lambda: events.current_state(conn, poison) == "failed" and len(dlq.list_entries(conn)) == 1)
    read = board.update(conn)
    assert read == len(events.read_global(conn, count=None)) - 4  # only what happened since the last tick
    assert board.column_counts()["completed"] == 3
    assert board.column_counts()["dead_lettered"] == 1
    assert sum(board.column_counts().values()) == board.total == 4
    row = board.jobs[poison]
    assert (row.column, row.state, row.attempt, row.reason) == ("dead_lettered", "failed", 2, "error")
    assert "poison" in row.error
    assert {board.jobs[i].column for i in ok} == {"completed"}
    assert board.update(conn) == 0  # nothing new: nothing read
    # the poison job's two attempts on the Gantt: a failure that booked a retry, then the final failure
    bars = [bar for bar in board.gantt_rows() if bar["job_id"] == poison]
    assert sorted((bar["attempt"], bar["outcome"]) for bar in bars) == [(1, "retry"), (2, "failed")]
    assert [e["event"] for e in board.recent if e["job_id"] == poison] == [
        "enqueued", "started", "retry_scheduled", "started", "failed", "dead_lettered",
    ]  # fmt: skip


def test_a_retrying_job_waits_in_its_own_column(conn: redis.Redis) -> None:
    board = Board()
    job_id = jobs.submit(conn, "send_email", {"fail_first": 1, "duration": 0}, retry={"max_retries": 2, "base": 600})
    run_burst(conn)  # the first attempt fails; the redelivery is booked far in the future
    board.update(conn)
    row = board.jobs[job_id]
    assert (row.column, row.state, row.attempt) == ("retrying", "pending", 1), [
        (e.event, e.state) for e in events.job_events(conn, job_id)
    ]
    assert row.retry_at > row.updated_at
    assert board.column_jobs("retrying") == [row]


def test_a_tick_reads_within_its_budget_and_catches_up(conn: redis.Redis) -> None:
    for n in range(300):
        events.emit(conn, f"job-{n}", "enqueued", "pending", task="noop")
    board = Board()
    assert board.update(conn, budget_s=0, chunk=100) == 100
    assert board.behind and board.total == 100
    ticks = 1
    while board.behind:
        board.update(conn, budget_s=0, chunk=100)
        ticks += 1
    assert ticks == 4 and board.total  # the third chunk was full, so a fourth read finds the end
    assert board.total == 300 and board.column_counts()["pending"] == 300
    assert board.stream_length(conn) == 300


def test_the_board_starts_again_when_the_broker_is_emptied(conn: redis.Redis) -> None:
    board = Board()
    events.emit(conn, "a", "enqueued", "pending", task="noop")
    events.emit(conn, "a", "started", "running", task="noop", attempt=1, worker="w1")
    board.update(conn)
    assert board.column_counts()["running"] == 1
    conn.flushdb()
    events.emit(conn, "b", "enqueued", "pending", task="noop")
    board.update(conn)
    assert list(board.jobs) == ["b"] and board.column_counts()["running"] == 0


def test_unknown_states_are_drawn_generically_and_lost_couriers_close_their_bar(conn: redis.Redis) -> None:
    board = Board()
    events.emit(conn, "x", "enqueued", "pending", task="noop")
    events.emit(conn, "x", "started", "running", task="noop", attempt=1, worker="w1")
    events.emit(conn, "x", "started", "running", task="noop", attempt=2, worker="w2")  # w1 vanished
    events.emit(conn, "y", "enqueued", "paused", task="noop")  # a state this board has never heard of
    board.update(conn)
    assert board.column_counts()[OTHER] == 1
    assert set(board.column_counts()) == {*COLUMNS, OTHER}
    bars = board.gantt_rows()
    assert [(b["worker"], b["outcome"]) for b in bars] == [("w2", "running"), ("w1", "abandoned")]


def test_throughput_counts_finished_jobs_in_the_window(conn: redis.Redis) -> None:
    board = Board(window=10)
    for n in range(5):
        events.emit(conn, f"j{n}", "enqueued", "pending", task="noop", ts=1000.0 + n)
        events.emit(conn, f"j{n}", "completed", "completed", task="noop", ts=1001.0 + n)
    board.update(conn)
    assert board.throughput(now=1006.0) == 0.5
    assert board.throughput(now=1013.5) == 0.2  # two left in the last ten seconds
    assert board.throughput(now=2000.0) == 0.0


def test_in_a_class_the_board_shows_whose_parcel_each_job_is(conn: redis.Redis) -> None:
    board = Board()
    alice = jobs.submit(conn, "noop", {"value": 1}, student="alice")
    mine = jobs.submit(conn, "noop", {"value": 2})
    run_until(conn, lambda: events.current_state(conn, alice) == events.current_state(conn, mine) == "completed")
    board.update(conn)
    assert (board.jobs[alice].student, board.jobs[mine].student) == ("alice", "")
