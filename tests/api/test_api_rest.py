"""REST and polling: submit, look up (ETag / 304), list, batch, cancel, health, on real workers."""

from __future__ import annotations

import time

import pytest
from api_helpers import submit, wait_event, wait_state
from fastapi.testclient import TestClient

from labs import events
from labs.api import create_app
from labs.catalogue import CATALOGUE
from labs.session import LabSession
from labs.states import validate_sequence

embedded_only = pytest.mark.parametrize("broker", ["embedded"], indirect=True)


def test_submit_then_poll_until_completed(lab: LabSession, client: TestClient) -> None:
    response = client.post("/tasks", json={"task": "slow_task", "params": {"steps": 4, "step_seconds": 1}})
    assert response.status_code == 202
    body = response.json()
    job_id = body["id"]
    assert body["state"] in {"pending", "running"}
    assert body["links"] == {"self": f"/tasks/{job_id}", "stream": f"/tasks/{job_id}/stream", "ws": f"/ws/tasks/{job_id}"}
    assert response.headers["location"] == f"/tasks/{job_id}"

    # the seed's scenario 3: poll, sending back the ETag each time
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
    validate_sequence([s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]])
    view = response.json()
    assert view["state"] == "completed" and view["rq_status"] == "finished"
    assert view["result"] == {"steps": 4}
    assert view["progress"] == {"done": 4, "total": 4, "percent": 100.0, "message": "step 4/4"}
    assert view["attempt"] == 1 and view["max_retries"] == 0
    assert [e["event"] for e in view["events"]] == ["enqueued", "started"] + ["progress"] * 4 + ["completed"]
    assert view["last_event_id"] == view["events"][-1]["id"]
    assert client.get(f"/tasks/{job_id}", headers={"If-None-Match": etag}).status_code == 304


@embedded_only
def test_polling_costs_a_304_while_nothing_changes(client: TestClient) -> None:
    job_id = submit(client, "slow_task", {"steps": 3})  # no worker: it stays pending
    first = client.get(f"/tasks/{job_id}")
    assert first.status_code == 200 and first.json()["state"] == "pending"
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    for _ in range(3):
        again = client.get(f"/tasks/{job_id}", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
    assert client.get(f"/tasks/{job_id}", headers={"If-None-Match": f'"other", {etag}'}).status_code == 304
    assert client.get(f"/tasks/{job_id}", headers={"If-None-Match": '"stale"'}).status_code == 200

    assert client.post(f"/tasks/{job_id}/cancel").json()["state"] == "failed"  # something changes
    changed = client.get(f"/tasks/{job_id}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["state"] == "failed" and changed.json()["reason"] == "cancelled"
    assert client.get(f"/tasks/{job_id}", headers={"If-None-Match": changed.headers["etag"]}).status_code == 304
    assert client.get(f"/tasks/{job_id}?events=false").json()["events"] is None


@embedded_only
def test_batch_is_all_or_nothing_and_list_filters(client: TestClient, conn) -> None:
    bad = client.post("/tasks/batch", json={"jobs": [{"task": "noop"}, {"task": "slow_task", "params": {"steps": -1}}]})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("body.jobs.1: slow_task: steps")
    assert client.get("/tasks").json() == {"tasks": [], "count": 0}  # nothing was sent

    batch = client.post(
        "/tasks/batch",
        json={"jobs": [{"task": "noop", "params": {"value": i}} for i in range(3)] + [{"task": "slow_task"}]},
    )
    assert batch.status_code == 202
    ids = [job["id"] for job in batch.json()["jobs"]]
    assert len(set(ids)) == 4
    listed = client.get("/tasks", params={"state": "pending"}).json()
    assert listed["count"] == 4 and [t["id"] for t in listed["tasks"]] == ids[::-1]  # newest first
    assert [t["id"] for t in client.get("/tasks", params={"task": "noop", "limit": 2}).json()["tasks"]] == ids[2:0:-1]
    assert client.get("/tasks", params={"state": "completed"}).json()["count"] == 0
    client.post(f"/tasks/{ids[0]}/cancel")
    assert [t["id"] for t in client.get("/tasks", params={"state": "failed"}).json()["tasks"]] == [ids[0]]


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_cancel_a_running_job_over_rest(lab: LabSession, client: TestClient) -> None:
    job_id = submit(client, "slow_task", {"steps": 400, "step_seconds": 1})
    wait_event(client, job_id, "progress", count=2)
    response = client.post(f"/tasks/{job_id}/cancel")
    assert response.status_code == 202 and response.json()["state"] == "running"
    view = wait_state(client, job_id, {"failed"})
    assert view["reason"] == "cancelled"
    names = [e["event"] for e in view["events"]]
    assert names[-1] == "cancelled" and names.count("progress") < 400
    again = client.post(f"/tasks/{job_id}/cancel")
    assert again.status_code == 409 and "already failed" in again.json()["detail"]


@embedded_only
def test_catalogue_health_and_docs(client: TestClient) -> None:
    catalogue = client.get("/catalogue").json()
    assert [entry["name"] for entry in catalogue] == list(CATALOGUE)
    slow = next(entry for entry in catalogue if entry["name"] == "slow_task")
    assert slow["params"]["properties"]["steps"]["minimum"] == 1 and slow["title"]["zh"]
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["broker"].startswith("redis://")
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert {"/tasks", "/tasks/{job_id}", "/tasks/{job_id}/stream", "/events", "/dlq", "/documents"} <= set(schema["paths"])


def test_a_down_broker_is_a_503_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    with TestClient(create_app()) as client:
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable" and "no broker answers" in health.json()["detail"]
        for response in (
            client.post("/tasks", json={"task": "noop"}),
            client.get("/tasks/abc"),
            client.get("/tasks/abc/stream"),
            client.get("/dlq"),
        ):
            assert response.status_code == 503
            assert "no broker answers at redis://127.0.0.1:1/0" in response.json()["detail"]
            assert "\n" not in response.json()["detail"]
        with client.websocket_connect("/ws/tasks/abc") as ws:
            assert "broker unavailable" in ws.receive_json()["error"]


@embedded_only
def test_bad_input_gets_a_readable_4xx(client: TestClient, conn) -> None:
    def detail(response, status: int) -> str:
        assert response.status_code == status, response.text
        text = response.json()["detail"]
        assert isinstance(text, str) and text
        return text

    unknown = detail(client.post("/tasks", json={"task": "rm -rf"}), 422)
    assert unknown == f"body.task: unknown task 'rm -rf'; the catalogue has: {', '.join(sorted(CATALOGUE))}"
    assert "slow_task: steps" in detail(client.post("/tasks", json={"task": "slow_task", "params": {"steps": "x"}}), 422)
    assert "slow_task: nope: Extra inputs" in detail(
        client.post("/tasks", json={"task": "slow_task", "params": {"nope": 1}}), 422
    )
    assert "body.params" in detail(client.post("/tasks", json={"task": "noop", "params": [1]}), 422)
    assert "body.retry.max_retries" in detail(client.post("/tasks", json={"task": "noop", "retry": {"max_retries": 99}}), 422)
    assert "body.timeout" in detail(client.post("/tasks", json={"task": "noop", "timeout": -1}), 422)
    assert "body.extra" in detail(client.post("/tasks", json={"task": "noop", "extra": 1}), 422)
    bad_json = client.post("/tasks", content=b'{"task": ', headers={"content-type": "application/json"})
    assert "invalid JSON at position" in detail(bad_json, 422)
    nan = client.post(
        "/tasks", content=b'{"task": "noop", "params": {"value": [NaN]}}', headers={"content-type": "application/json"}
    )
    assert "NaN and Infinity are not JSON" in detail(nan, 422)
    assert detail(client.get("/tasks/0123abc"), 404) == "no job with id '0123abc'"
    assert detail(client.post("/tasks/0123abc/cancel"), 404) == "no job with id '0123abc'"
    assert "string_pattern_mismatch" in client.get("/tasks/a%20b").text
    assert "Last-Event-ID" in detail(client.get("/events", headers={"Last-Event-ID": "yesterday"}), 422)
    assert "unknown task 'nope'" in detail(client.get("/events", params={"task": "nope"}), 422)
    assert "query.state" in detail(client.get("/tasks", params={"state": "lost"}), 422)
    assert "not in the dead-letter queue" in detail(client.delete("/dlq/0123abc"), 404)
    assert events.state_counts(conn) == {}  # none of that reached the queue


def test_cors_is_off_by_default_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    preflight = {"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"}
    with TestClient(create_app()) as client:
        assert "access-control-allow-origin" not in client.options("/tasks", headers=preflight).headers
    monkeypatch.setenv("LAB_CORS_ORIGINS", "http://localhost:5173, http://127.0.0.1:5173")
    with TestClient(create_app()) as client:
        allowed = client.options("/tasks", headers=preflight)
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
        denied = client.options("/tasks", headers={**preflight, "Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in denied.headers
        exposed = client.get("/health", headers={"Origin": "http://localhost:5173"}).headers["access-control-expose-headers"]
        assert "ETag" in exposed


@embedded_only
def test_the_etag_names_the_view_it_comes_with(client: TestClient, conn, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job that moves while its view is read (here: cancelled) gets the ETag of what was sent, not of before."""
    from labs import jobs
    from labs.api import rest
    from labs.api.polling import job_etag

    job_id = client.post("/tasks", json={"task": "noop"}).json()["id"]  # no worker: it stays pending
    real_view, moved = jobs.job_view, []

    def moving_view(*args, **kwargs):
        if not moved:
            moved.append(jobs.cancel(conn, job_id))  # the job changes between the ETag's read and the view's
        return real_view(*args, **kwargs)

    monkeypatch.setattr(rest.jobs, "job_view", moving_view)
    response = client.get(f"/tasks/{job_id}")
    assert moved and response.json()["state"] == "failed"
    assert response.headers["etag"] == job_etag(conn, job_id)
    assert client.get(f"/tasks/{job_id}", headers={"If-None-Match": response.headers["etag"]}).status_code == 304
