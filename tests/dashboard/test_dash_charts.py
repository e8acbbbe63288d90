"""The pictures draw what happened: the data each chart would plot, checked without a browser."""

from __future__ import annotations

from typing import Any

import altair as alt
import redis
from dashboard_helpers import run_until

from labs import events, jobs
from labs.dashboard import charts, queries


def datasets(chart: alt.TopLevelMixin) -> list[list[dict[str, Any]]]:
    return list(chart.to_dict()["datasets"].values())


def rows_with(chart: alt.TopLevelMixin, column: str) -> list[dict[str, Any]]:
    return [row for data in datasets(chart) for row in data if column in row]


def poison_job(conn: redis.Redis) -> str:
    job_id = jobs.submit(conn, "risky_task", {"data": {"poison": True}}, retry={"max_retries": 1, "base": 0})
    run_until(conn, lambda: any(e.event == "dead_lettered" for e in events.job_events(conn, job_id)))
    return job_id


def test_state_diagram_highlights_the_path_a_retried_job_took(conn: redis.Redis) -> None:
    job_id = poison_job(conn)
    replay = events.replay(events.job_events(conn, job_id))
    assert replay.path == ["pending", "running", "pending", "running", "failed"]
    taken = charts.path_edges(replay.transitions)
    assert {edge: len(times) for edge, times in taken.items()} == {
        ("pending", "running"): 2,
        ("running", "pending"): 1,
        ("running", "failed"): 1,
    }
    assert all(t >= 0 for times in taken.values() for t in times)
    chart = charts.state_diagram(replay.transitions, "zh", current="failed", dead_lettered=True)
    edges = {row["edge"]: row["status"] for row in rows_with(chart, "order")}
    assert edges == {
        "pending->running": "taken",
        "running->pending": "taken",
        "running->completed": "idle",
        "running->failed": "taken",
        "pending->failed": "idle",
    }
    nodes = {row["state"]: row for row in rows_with(chart, "fill")}
    assert nodes["completed"]["fill"] == charts.IDLE and nodes["failed"]["fill"] == charts.STATE_COLORS["failed"]
    assert [state for state, row in nodes.items() if row["current"]] == ["failed"]
    assert nodes["pending"]["when"] == "+0.00s" and nodes["completed"]["when"] == ""
    labels = [row["text"] for row in rows_with(chart, "text")]
    assert any("退件处理中心" in text for text in labels)  # the dead-letter note
    assert any(text.startswith("揽收（开始执行） ×2") for text in labels)


def test_state_diagram_of_a_job_not_yet_started() -> None:
    chart = charts.state_diagram([("enqueued", "pending", 100.0)], "en", current="pending")
    assert {row["status"] for row in rows_with(chart, "order")} == {"idle"}
    nodes = {row["state"]: row["fill"] for row in rows_with(chart, "fill")}
    assert nodes["pending"] == charts.STATE_COLORS["pending"] and nodes["running"] == charts.IDLE


def test_retry_chart_sets_the_planned_waits_against_the_actual_ones(conn: redis.Redis) -> None:
    job_id = poison_job(conn)
    detail = queries.job_detail(conn, job_id)
    rows = detail["retries"]
    assert [(r["retry"], r["kind"]) for r in rows] == [(1, "planned"), (1, "actual")]
    assert rows[0]["seconds"] == 0.0 and rows[1]["seconds"] >= 0
    chart = charts.retry_chart(rows, "en")
    assert sorted(row["kind_label"] for row in rows_with(chart, "kind_label")) == ["actual wait", "planned wait"]
    assert detail["in_dlq"] and detail["terminal"]
    assert [(a["attempt"], a["outcome"]) for a in detail["attempts"]] == [(1, "retry"), (2, "failed")]


def test_gantt_has_one_bar_per_attempt_on_its_worker() -> None:
    rows = [
        {"job_id": "a" * 32, "task": "noop", "attempt": 1, "worker": "w1", "start": 90.0, "end": 91.0, "outcome": "retry"},
        {"job_id": "a" * 32, "task": "noop", "attempt": 2, "worker": "w2", "start": 95.0, "end": 100.0, "outcome": "running"},
    ]
    chart = charts.gantt(rows, "zh", now=100.0)
    bars = rows_with(chart, "t0")
    assert [(b["worker"], b["t0"], b["t1"], b["outcome_label"]) for b in bars] == [
        ("w1", -10.0, -9.0, "失败→重投"),
        ("w2", -5.0, 0.0, "派送中"),
    ]
    assert charts.outer_height(chart) == chart.to_dict()["height"] + 110


def test_event_timeline_and_delay_chart_use_the_language() -> None:
    history = [
        {"ts": 10.0, "event": "enqueued", "state": "pending", "attempt": 0},
        {"ts": 10.5, "event": "started", "state": "running", "attempt": 1},
        {"ts": 11.0, "event": "completed", "state": "completed", "attempt": 1},
    ]
    timeline = rows_with(charts.event_timeline(history, "zh"), "event_label")
    assert [(r["t"], r["event_label"]) for r in timeline] == [(0.0, "已下单（入队）"), (0.5, "已揽收（开始）"), (1.0, "已签收")]
    delays = charts.delay_chart([{"channel": "sse", "seq": 2, "event": "started", "delay_ms": 3.5}], "en")
    assert rows_with(delays, "delay_ms") == [{"channel": "sse", "seq": 2, "event": "started", "delay_ms": 3.5}]
