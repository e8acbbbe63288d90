"""The API follows a Celery or an ARQ job exactly as an RQ one: ETag polling, SSE resume, WebSocket cancel (no engine-specific
code)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from api_helpers import LiveServer, submit, wait_event
from fastapi.testclient import TestClient
from test_api_sse import lifecycle, read_stream
from test_api_ws import frames_until_close

from labs import events
from labs.session import LabSession
from labs.states import validate_sequence


@pytest.fixture(params=["celery", "arq"])
def celery_lab(broker: str, request: pytest.FixtureRequest) -> Iterator[LabSession]:
    """One worker of the seed's engines in turn (the fixture keeps Celery's name; ``.engine`` says which)."""
    session = LabSession(workers=1, engine=request.param).start()
    yield session
    session.stop()


def test_etag_polling_follows_a_celery_job_to_its_result(celery_lab: LabSession, client: TestClient) -> None:
    job_id = submit(client, "slow_task", {"steps": 4, "step_seconds": 1}, engine=celery_lab.engine)
    seen, not_modified, etag = [], 0, None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = client.get(f"/tasks/{job_id}", headers={"If-None-Match": etag} if etag else {})
        if response.status_code == 304:
            assert response.content == b"" and response.headers["etag"] == etag
            not_modified += 1
        else:
            assert response.status_code == 200
            etag = response.headers["etag"]
            seen.append(response.json()["state"])
            if seen[-1] == "completed":
                break
        time.sleep(0.005)
    states = ["pending", *seen]  # a Celery worker may start it before the first poll
    validate_sequence([s for i, s in enumerate(states) if i == 0 or s != states[i - 1]])
    assert not_modified > 0
    view = response.json()
    own_word = {"celery": "SUCCESS", "arq": "complete"}[celery_lab.engine]
    assert view["engine"] == celery_lab.engine and view["state"] == "completed" and view["rq_status"] == own_word
    assert view["result"] == {"steps": 4} and view["attempt"] == 1
    assert [e["event"] for e in view["events"]] == ["enqueued", "started"] + ["progress"] * 4 + ["completed"]
    assert {e["engine"] for e in view["events"]} == {celery_lab.engine}
    # the tag of the answer that showed "completed" may predate that event (a tag is never newer than its
    # answer, so no update is missed); from the next answer on, the finished job is a 304
    etag = client.get(f"/tasks/{job_id}").headers["etag"]
    assert client.get(f"/tasks/{job_id}", headers={"If-None-Match": etag}).status_code == 304


def test_sse_resume_of_a_celery_job_misses_nothing_and_repeats_nothing(celery_lab: LabSession, live_api: LiveServer) -> None:
    with httpx.Client(base_url=live_api.url, timeout=30) as http:
        job_id = submit(http, "slow_task", {"steps": 30, "step_seconds": 1}, engine=celery_lab.engine)
        first = read_stream(http, f"/tasks/{job_id}/stream", stop=lambda got: sum(m.event == "progress" for m in got) == 5)
        assert first[-1].event == "progress"
        wait_event(http, job_id, "progress", count=8)  # events happen while nobody listens
        second = read_stream(http, f"/tasks/{job_id}/stream", headers={"Last-Event-ID": first[-1].id})
    received = [m.id for m in lifecycle(first) + lifecycle(second)]
    full = [e.id for e in events.job_events(celery_lab.conn, job_id)]
    assert received == full and len(set(received)) == len(received)  # no gap, no duplicate
    assert second[-1].event == "end" and json.loads(second[-1].data)["state"] == "completed"


def test_websocket_cancel_stops_a_running_celery_job(celery_lab: LabSession, client: TestClient) -> None:
    job_id = submit(client, "slow_task", {"steps": 400, "step_seconds": 1}, engine=celery_lab.engine)
    with client.websocket_connect(f"/ws/tasks/{job_id}") as ws:
        assert ws.receive_json()["type"] == "snapshot"
        progress = 0
        while progress < 3:
            frame = ws.receive_json()
            progress += frame["type"] == "event" and frame["event"] == "progress"
        ws.send_json({"action": "cancel"})
        frames, code = frames_until_close(ws)
    assert code == 1000
    acks = [f for f in frames if f["type"] == "ack"]  # the state right after the request: the kill may already be done
    assert [a["action"] for a in acks] == ["cancel"] and acks[0]["state"] in {"running", "failed"}
    sent = [f for f in frames if f["type"] == "event"]
    assert sent[-1]["event"] == "cancelled" and sent[-1]["reason"] == "cancelled" and sent[-1]["engine"] == celery_lab.engine
    assert frames[-1] == {"type": "end", "state": "failed", "last_event_id": sent[-1]["id"]}
    history = events.job_events(celery_lab.conn, job_id)
    assert history[-1].event == "cancelled" and sum(e.event == "progress" for e in history) < 400


def test_health_counts_every_engines_workers(celery_lab: LabSession, client: TestClient) -> None:
    engine = celery_lab.engine
    health = client.get("/health").json()
    assert health["engines"] == {"rq": 0, "celery": 0, "arq": 0, engine: 1} and health["workers"] == 1
    celery_lab.add_worker()  # the session's engine: one more worker
    rq = LabSession(workers=1, engine="rq").start()
    try:
        health = client.get("/health").json()
        assert health["engines"] == {"rq": 1, "celery": 0, "arq": 0, engine: 2} and health["workers"] == 3
    finally:
        rq.stop()
