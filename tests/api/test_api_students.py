"""Classroom namespaces: a student sees, follows, cancels and redrives only their own jobs; the instructor sees all."""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_helpers import submit, wait_event, wait_state
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from labs import events
from labs.session import LabSession

INSTRUCTOR = "instructor-secret-for-tests"
POISON = {"data": {"poison": True}, "fail_fast": True}


@pytest.fixture
def classroom(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_INSTRUCTOR_TOKEN", INSTRUCTOR)


def as_(client: TestClient, token: str) -> TestClient:
    """Another client on the same app that sends ``token`` with every request."""
    return TestClient(client.app, headers={"Authorization": f"Bearer {token}"})


def join(client: TestClient, name: str) -> TestClient:
    answer = client.post("/students", json={"name": name})
    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == name
    client.cookies.clear()  # the answer also set the lab_token cookie: keep ``client`` anonymous
    return as_(client, answer.json()["token"])


def close_code(client: TestClient, path: str) -> tuple[list[dict[str, Any]], int]:
    frames = []
    with client.websocket_connect(path) as ws:
        while True:
            try:
                frames.append(ws.receive_json())
            except WebSocketDisconnect as closed:
                return frames, closed.code


def firehose_jobs(client: TestClient, token: str, until_job: str, until_event: str) -> set[str]:
    """The job ids on the firehose (backlog) as ``token`` sees it, read until ``until_job``'s ``until_event``."""
    seen: set[str] = set()
    with client.stream("GET", f"/events?backlog=1000&token={token}") as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            data = json.loads(line.removeprefix("data:").strip())
            if "job_id" in data:
                seen.add(data["job_id"])
                if data["job_id"] == until_job and data["event"] == until_event:
                    return seen
    raise AssertionError("the firehose ended")


def test_classroom_mode_asks_for_a_token_and_names_are_first_come(classroom: None, client: TestClient) -> None:
    refused = client.get("/tasks")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    assert "POST /students" in refused.json()["detail"]
    assert client.post("/tasks", json={"task": "noop"}).status_code == 401
    assert client.get("/tasks", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert client.get("/tasks", headers={"Authorization": "Basic abc"}).json()["detail"].startswith("Authorization:")
    assert client.get("/health").status_code == 200 and client.get("/catalogue").status_code == 200

    alice = join(client, "alice")
    taken = client.post("/students", json={"name": "alice"})
    assert taken.status_code == 409 and "taken" in taken.json()["detail"]
    assert client.post("/students", json={"name": "../admin"}).status_code == 422
    assert client.post("/students", json={"name": ""}).status_code == 422
    join(client, "王小明")  # a Chinese name is a name
    assert alice.get("/students/me").json() == {"name": "alice", "instructor": False, "classroom": True, "sees": "own jobs"}
    assert alice.get("/students").status_code == 403
    teacher = as_(client, INSTRUCTOR).get("/students/me").json()
    assert teacher == {"name": None, "instructor": True, "classroom": True, "sees": "all jobs"}
    assert close_code(client, "/ws/tasks/abc")[1] == 4401

    # a page served by the API (the playground) needs no token code: the cookie set on joining is enough
    browser = TestClient(client.app)
    assert browser.post("/students", json={"name": "carol"}).status_code == 201
    assert browser.get("/students/me").json()["name"] == "carol"
    assert browser.get("/tasks").status_code == 200
    with browser.websocket_connect("/ws/tasks/abc") as ws:
        assert ws.receive_json()["type"] == "error"  # past the token check: an unknown job, not a 4401


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_a_student_cannot_see_cancel_or_redrive_another_students_jobs(
    classroom: None, lab: LabSession, client: TestClient
) -> None:
    lab.add_worker()  # one for alice's long job, one for the rest
    alice, bob, teacher = join(client, "alice"), join(client, "bob"), as_(client, INSTRUCTOR)
    returned = submit(alice, "risky_task", POISON)
    running = submit(alice, "slow_task", {"steps": 4000, "step_seconds": 1})
    own = submit(bob, "noop", {"value": 1})
    wait_event(alice, returned, "dead_lettered")
    wait_state(alice, running, {"running"})
    wait_state(bob, own, {"completed"})

    # bob: alice's jobs do not exist for him, whatever the route
    for path in (f"/tasks/{returned}", f"/tasks/{running}/stream", f"/dlq/{returned}"):
        assert bob.get(path).status_code == 404, path
    assert bob.post(f"/tasks/{running}/cancel").status_code == 404
    assert bob.post(f"/dlq/{returned}/redrive").status_code == 404
    assert bob.delete(f"/dlq/{returned}").status_code == 404
    assert close_code(bob, f"/ws/tasks/{running}?token={bob.headers['Authorization'][7:]}")[1] == 4404
    assert [t["id"] for t in bob.get("/tasks").json()["tasks"]] == [own]
    assert bob.get("/dlq").json() == {"count": 0, "entries": []}
    assert alice.get(f"/tasks/{running}").json()["state"] == "running"  # bob's cancel did nothing

    # the firehose: bob hears only his own jobs, the instructor hears everybody's
    bob_token, alice_token = bob.headers["Authorization"][7:], alice.headers["Authorization"][7:]
    assert firehose_jobs(client, bob_token, own, "completed") == {own}
    assert {returned, own} <= firehose_jobs(client, INSTRUCTOR, own, "completed")
    assert own not in firehose_jobs(client, alice_token, returned, "dead_lettered")

    # alice: her own jobs, her own returns centre, and a redrive stays hers
    assert {t["id"] for t in alice.get("/tasks").json()["tasks"]} == {returned, running}
    assert [e["id"] for e in alice.get("/dlq").json()["entries"]] == [returned]
    redriven = alice.post(f"/dlq/{returned}/redrive", json={"params": {"data": {"poison": False}}})
    assert redriven.status_code == 202
    new = redriven.json()["id"]
    assert wait_state(alice, new, {"completed"})["student"] == "alice"
    assert bob.get(f"/tasks/{new}").status_code == 404
    assert alice.post(f"/tasks/{running}/cancel").status_code == 202
    assert wait_state(alice, running, {"failed"})["reason"] == "cancelled"

    # every event of a student's job carries the name, whoever recorded it (API, worker, returns centre)
    history = events.job_events(lab.conn, returned)
    assert {e.data.get("student") for e in history} == {"alice"}
    assert {"enqueued", "started", "failed", "dead_lettered", "redriven"} <= {e.event for e in history}

    # the instructor sees everyone's jobs and the class list
    assert {returned, running, own, new} <= {t["id"] for t in teacher.get("/tasks").json()["tasks"]}
    assert teacher.get(f"/tasks/{running}").json()["student"] == "alice"
    assert teacher.get("/students").json() == {"students": [{"name": "alice", "jobs": 3}, {"name": "bob", "jobs": 1}]}


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_a_students_batch_is_theirs(classroom: None, lab: LabSession, client: TestClient) -> None:
    alice, bob = join(client, "alice"), join(client, "bob")
    started = alice.post("/scenarios/summaries", json={"n": 3})
    assert started.status_code == 202
    batch = started.json()["batch"]
    assert bob.get(f"/batches/{batch}").status_code == 404
    assert bob.get(f"/scenarios/summaries/{batch}").status_code == 404
    frames, code = close_code(bob, f"/ws/batches/{batch}?token={bob.headers['Authorization'][7:]}")
    assert code == 4404 and "no batch" in frames[-1]["error"]
    status = alice.get(f"/batches/{batch}").json()
    assert status["total"] == 3 and {alice.get(f"/tasks/{j['id']}").json()["student"] for j in status["jobs"]} == {"alice"}


def test_an_open_lab_needs_no_token_but_a_token_still_narrows_the_view(client: TestClient) -> None:
    alice = join(client, "alice")
    mine = submit(alice, "noop", {"value": 1})
    anyone = submit(client, "noop", {"value": 2})
    assert {t["id"] for t in client.get("/tasks").json()["tasks"]} == {mine, anyone}
    assert [t["id"] for t in alice.get("/tasks").json()["tasks"]] == [mine]
    assert alice.get(f"/tasks/{anyone}").status_code == 404
    assert client.get("/students/me").json()["sees"] == "all jobs"
