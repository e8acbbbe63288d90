"""The submit form and the page queries: fields from the catalogue, batches with poison, attempt rows."""

from __future__ import annotations

import pytest
import redis

from labs import events, jobs
from labs.catalogue import CATALOGUE
from labs.dashboard import queries, submit
from labs.errors import BrokerUnavailable, InvalidParams


def test_every_catalogue_task_gets_a_form() -> None:
    for name in CATALOGUE:
        fields = submit.fields(name)
        assert [f.name for f in fields] == list(CATALOGUE[name].params.model_fields), name
    email = {f.name: f for f in submit.fields("send_email")}
    assert (email["failure_rate"].kind, email["failure_rate"].minimum, email["failure_rate"].maximum) == ("float", 0, 1)
    assert (email["fail_first"].kind, email["fail_first"].default) == ("int", 0)
    assert {f.name: f.kind for f in submit.fields("risky_task")} == {"data": "json", "fail_fast": "bool"}
    assert [f.kind for f in submit.fields("process_documents")] == ["documents"]
    assert submit.fields("process_document")[0].required


@pytest.mark.parametrize(("batch", "share", "poisoned"), [(10, 0.2, 2), (5, 0.2, 1), (3, 1.0, 3), (4, 0.0, 0), (1, 0.5, 0)])
def test_a_share_of_the_batch_gets_poison(batch: int, share: float, poisoned: int) -> None:
    params = submit.batch_params("risky_task", {"data": {"id": 7}}, batch, share)
    assert len(params) == batch
    assert sum(p["data"].get("poison", False) for p in params) == poisoned
    assert all(p["data"]["id"] == 7 for p in params)
    assert submit.batch_params("noop", {"value": 1}, 2, 1.0) == [{"value": 1}, {"value": 1}]  # nothing to poison


def test_form_values_become_task_parameters() -> None:
    values = {"data": submit.JsonText('{"id": 3}'), "fail_fast": True, "note": submit.JsonText(" "), "document": None}
    assert submit.collect_params(values) == {"data": {"id": 3}, "fail_fast": True}


def test_bad_form_input_is_one_clear_error() -> None:
    with pytest.raises(InvalidParams, match="batch size"):
        submit.batch_params("noop", {}, 0)
    with pytest.raises(InvalidParams, match="not valid JSON"):
        submit.parse_json("{oops")
    with pytest.raises(InvalidParams, match="retry"):
        submit.retry_policy("send_email", max_retries=99)
    with pytest.raises(InvalidParams, match="JSON object"):
        queries.parse_params("[1, 2]")
    assert queries.parse_params("  ") is None
    assert submit.retry_policy("send_email", base=2).delays() == [2, 4, 8]


def test_submit_batch_sends_real_jobs(conn: redis.Redis) -> None:
    ids = submit.submit_batch(conn, "risky_task", submit.batch_params("risky_task", {}, 4, 0.5), timeout=5)
    assert len(set(ids)) == 4
    assert [events.current_state(conn, i) for i in ids] == ["pending"] * 4
    assert [jobs.job_view(conn, i)["task"] for i in ids] == ["risky_task"] * 4
    with pytest.raises(InvalidParams):
        submit.submit_batch(conn, "send_email", [{"failure_rate": 7}])


def test_attempt_and_timeline_rows_from_events() -> None:
    history = [
        {"id": "1-0", "ts": 100.0, "event": "enqueued", "state": "pending", "attempt": 0, "worker": ""},
        {"id": "2-0", "ts": 100.5, "event": "started", "state": "running", "attempt": 1, "worker": "w1"},
        {"id": "3-0", "ts": 101.0, "event": "timed_out", "state": "running", "attempt": 1, "worker": "w1", "error": "late"},
        {"id": "4-0", "ts": 101.0, "event": "retry_scheduled", "state": "pending", "attempt": 1, "worker": "w1", "delay": 2.0},
        {"id": "5-0", "ts": 103.5, "event": "started", "state": "running", "attempt": 2, "worker": "w2"},
        {"id": "6-0", "ts": 104.0, "event": "completed", "state": "completed", "attempt": 2, "worker": "w2"},
    ]
    rows = queries.attempt_rows(history)
    assert [(r["attempt"], r["worker"], r["started"], r["ended"], r["outcome"], r["next_delay"]) for r in rows] == [
        (1, "w1", 0.5, 1.0, "timed_out", 2.0),
        (2, "w2", 3.5, 4.0, "completed", None),
    ]
    assert [r["t"] for r in queries.timeline_rows(history)] == [0.0, 0.5, 1.0, 1.0, 3.5, 4.0]


def test_retry_rows_compare_on_the_demo_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_TIME_SCALE", "0.5")
    history = [
        {"ts": 10.0, "event": "started", "attempt": 1},
        {"ts": 11.0, "event": "retry_scheduled", "attempt": 1},
        {"ts": 12.5, "event": "started", "attempt": 2},  # 1.5 real seconds = 3 demo seconds
        {"ts": 13.0, "event": "retry_scheduled", "attempt": 2},
    ]
    assert queries.retry_rows(history, [2.0, 4.0, 8.0]) == [
        {"retry": 1, "kind": "planned", "seconds": 2.0},
        {"retry": 2, "kind": "planned", "seconds": 4.0},
        {"retry": 3, "kind": "planned", "seconds": 8.0},
        {"retry": 1, "kind": "actual", "seconds": 3.0},
    ]


def test_no_broker_is_one_readable_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    with pytest.raises(BrokerUnavailable, match="no broker answers at redis://127.0.0.1:1/0"):
        queries.connection()
    monkeypatch.setenv("REDIS_URL", "redis://:secret@127.0.0.1:1/0")
    assert queries.broker_label() == "redis://:***@127.0.0.1:1/0"
