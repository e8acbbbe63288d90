"""Server-Sent Events: the whole life of a job, resume with Last-Event-ID, the firehose."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from api_helpers import LiveServer, submit, wait_event
from fastapi.testclient import TestClient
from httpx_sse import ServerSentEvent, connect_sse

from labs import events
from labs.session import LabSession


def read_stream(client, url: str, headers: dict[str, str] | None = None, stop=None) -> list[ServerSentEvent]:
    """The messages of an SSE stream until it ends (or ``stop(messages)`` is true), pings left out."""
    out: list[ServerSentEvent] = []
    with connect_sse(client, "GET", url, headers=headers or {}) as source:
        assert source.response.status_code == 200, source.response.read()
        assert source.response.headers["content-type"].startswith("text/event-stream")
        for message in source.iter_sse():
            if not message.data:
                continue  # a keep-alive ping after an id arrives as an empty message
            out.append(message)
            if stop is not None and stop(out):
                break
    return out


def lifecycle(messages: list[ServerSentEvent]) -> list[ServerSentEvent]:
    return [m for m in messages if m.event not in {"snapshot", "end", "error"}]


def test_stream_sends_state_first_then_every_event_then_ends(lab: LabSession, client: TestClient) -> None:
    job_id = submit(client, "slow_task", {"steps": 5, "step_seconds": 1})
    messages = read_stream(client, f"/tasks/{job_id}/stream")
    first, last = messages[0], messages[-1]
    assert first.event == "snapshot" and first.id == "" and first.retry == 150  # 3 demo s * 0.05
    snapshot = json.loads(first.data)
    assert snapshot["id"] == job_id and "events" not in snapshot and snapshot["state"] in {"pending", "running"}
    assert last.event == "end" and json.loads(last.data)["state"] == "completed"

    recorded = events.job_events(lab.conn, job_id)
    sent = lifecycle(messages)
    assert [m.id for m in sent] == [e.id for e in recorded]  # SSE id == event-log id, all of them, in order
    assert [m.event for m in sent] == ["enqueued", "started"] + ["progress"] * 5 + ["completed"]
    assert [json.loads(m.data) for m in sent] == [e.to_dict() for e in recorded]
    assert json.loads(last.data)["last_event_id"] == recorded[-1].id

    # a job that finished before anyone listened: the state first, its history, the end (no race)
    again = read_stream(client, f"/tasks/{job_id}/stream")
    assert json.loads(again[0].data)["state"] == "completed"
    assert [m.id for m in lifecycle(again)] == [e.id for e in recorded] and again[-1].event == "end"


def test_resume_after_a_disconnect_misses_nothing_and_repeats_nothing(lab: LabSession, live_api: LiveServer) -> None:
    """The acceptance test: disconnect mid-job, reconnect with Last-Event-ID, union == the full sequence."""
    with httpx.Client(base_url=live_api.url, timeout=30) as http:
        job_id = submit(http, "slow_task", {"steps": 30, "step_seconds": 1})
        first = read_stream(http, f"/tasks/{job_id}/stream", stop=lambda got: sum(m.event == "progress" for m in got) == 5)
        assert first[-1].event == "progress"  # left mid-job
        wait_event(http, job_id, "progress", count=8)  # events happen while nobody listens
        deadline = time.monotonic() + 10
        while http.get("/health").json()["push"]["subscribers"] and time.monotonic() < deadline:
            time.sleep(0.02)  # the server noticed the hang-up and dropped the subscription
        assert http.get("/health").json()["push"]["subscribers"] == 0
        second = read_stream(http, f"/tasks/{job_id}/stream", headers={"Last-Event-ID": first[-1].id})
        view = http.get(f"/tasks/{job_id}").json()
    assert view["state"] == "completed"
    received = [m.id for m in lifecycle(first) + lifecycle(second)]
    full = [e.id for e in events.job_events(lab.conn, job_id)]
    assert received == full  # no gap, no duplicate
    assert len(set(received)) == len(received)
    assert [m.event for m in lifecycle(second)][0] == "progress" and second[-1].event == "end"
    assert json.loads(second[0].data)["state"] in {"running", "completed"}  # the snapshot on reconnect


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_reconnect_after_the_end_is_204_and_query_param_resumes(client: TestClient) -> None:
    job_id = submit(client, "slow_task")  # no worker: pending
    client.post(f"/tasks/{job_id}/cancel")
    history = client.get(f"/tasks/{job_id}").json()["events"]
    assert [e["event"] for e in history] == ["enqueued", "cancelled"]
    # the browser's EventSource reconnects with the last id: 204 tells it to stop
    assert client.get(f"/tasks/{job_id}/stream", headers={"Last-Event-ID": history[-1]["id"]}).status_code == 204
    assert client.get(f"/tasks/{job_id}/stream", params={"last_event_id": history[-1]["id"]}).status_code == 204
    rest = read_stream(client, f"/tasks/{job_id}/stream?last_event_id={history[0]['id']}")
    assert [m.event for m in rest] == ["snapshot", "cancelled", "end"]
    assert client.get("/tasks/0123abc/stream").status_code == 404
    assert client.get(f"/tasks/{job_id}/stream", headers={"Last-Event-ID": "12-ab"}).status_code == 422


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_a_quiet_stream_sends_keep_alive_pings(client: TestClient) -> None:
    lines = []
    with client.stream("GET", "/events") as response:  # nothing happens: only the snapshot, then pings
        for line in response.iter_lines():
            lines.append(line)
            if line.startswith(": ping"):
                break
    assert lines[0] == "event: snapshot" and lines[1].startswith("data: ") and lines[2] == "retry: 150"
    assert json.loads(lines[1].removeprefix("data: ")) == {"counts": {}, "last_event_id": "0-0"}


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_a_dead_lettered_job_streams_its_annotation_before_the_end(lab: LabSession, client: TestClient) -> None:
    job_id = submit(client, "risky_task", {"data": {"poison": True}, "fail_fast": True})
    messages = read_stream(client, f"/tasks/{job_id}/stream")
    assert [m.event for m in messages] == ["snapshot", "enqueued", "started", "failed", "dead_lettered", "end"]
    assert json.loads(messages[-2].data)["reason"] == "permanent"


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_firehose_filters_and_resumes(lab: LabSession, live_api: LiveServer) -> None:
    with httpx.Client(base_url=live_api.url, timeout=30) as http:
        got: list[ServerSentEvent] = []

        def two_noops_done(messages: list[ServerSentEvent]) -> bool:
            if len(messages) == 1:  # the snapshot: now the stream is listening, send the parcels
                assert messages[0].event == "snapshot" and "counts" in json.loads(messages[0].data)
                submit(http, "slow_task", {"steps": 2, "step_seconds": 1})
                for value in (1, 2):
                    submit(http, "noop", {"value": value})
            return sum(m.event == "completed" for m in messages) == 2

        got = read_stream(http, "/events?task=noop", stop=two_noops_done)
        noop_events = got[1:]
        assert {json.loads(m.data)["task"] for m in noop_events} == {"noop"}
        assert [m.event for m in noop_events].count("enqueued") == 2
        # resume the firehose from the first noop event: exactly what followed it, in order
        resumed = read_stream(
            http,
            "/events?task=noop",
            headers={"Last-Event-ID": noop_events[0].id},
            stop=lambda messages: len(messages) == len(noop_events),
        )
        assert [m.id for m in resumed[1:]] == [m.id for m in noop_events[1:]]
        completed = read_stream(http, "/events?state=completed&backlog=50", stop=lambda messages: len(messages) == 3)
        assert {json.loads(m.data)["state"] for m in completed[1:]} == {"completed"}
