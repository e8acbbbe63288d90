"""Admission control over HTTP: 429 + Retry-After for a student's rate, their pending+running cap and the queue depth.

No worker runs here: every submitted job stays pending, so what a student has
pending is exactly what they submitted, and RQ's queues (with fair share, one a student) hold every job.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from test_api_students import INSTRUCTOR, as_, join

from labs import admission, fairness
from labs.api import create_app
from labs.scenarios import batches
from labs.task_queue import lab_queue

NOOP = {"task": "noop", "params": {}}


def post(client: TestClient, n: int = 1) -> Any:
    """One POST /tasks (n == 1) or one POST /tasks/batch of n noop jobs."""
    if n == 1:
        return client.post("/tasks", json=NOOP)
    return client.post("/tasks/batch", json={"jobs": [NOOP] * n})


def statuses(client: TestClient, times: int, n: int = 1) -> list[int]:
    return [post(client, n).status_code for _ in range(times)]


def queued(conn: redis.Redis) -> int:
    """Jobs waiting in RQ's queues: the lab queue, and (fair share, on in classroom mode) its students' and priority queues."""
    return sum(int(conn.llen(lab_queue(conn, name).key)) for name in fairness.all_queues(conn))


@pytest.fixture
def classroom(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_INSTRUCTOR_TOKEN", INSTRUCTOR)


@pytest.fixture
def second_app(broker: str) -> Iterator[TestClient]:
    """A second API app on the same broker: a second API process, as far as the limits can tell."""
    with TestClient(create_app()) as other:
        yield other


def test_a_student_over_the_rate_gets_429_with_retry_after(
    classroom: None, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_RATE_LIMIT", "3")
    monkeypatch.setenv("LAB_RATE_PERIOD", "30")
    alice, bob = join(client, "alice"), join(client, "bob")
    assert statuses(alice, 4) == [202, 202, 202, 429]
    refused = post(alice)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "10"  # one token comes back every 30 / 3 s
    detail = refused.json()["detail"]
    assert detail.startswith("rate limit: 3 jobs per 30 s for student alice; 0 left, this request needs 1")
    assert detail.endswith("retry in 10 s")
    assert statuses(bob, 2) == [202, 202]  # a bucket per student
    assert statuses(as_(client, INSTRUCTOR), 4) == [202] * 4  # the instructor is not rate limited
    rows = {(row["who"], row["limit"]): row["count"] for row in admission.refusals(client.app.state.broker.sync())}
    assert rows == {("student:alice", "rate"): 2}


def test_the_pending_and_running_cap_names_the_count_and_frees_up_as_jobs_end(
    classroom: None, client: TestClient, conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_MAX_ACTIVE", "2")
    alice = join(client, "alice")
    first = post(alice).json()["id"]
    assert statuses(alice, 2) == [202, 429]
    refused = post(alice)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == str(admission.RETRY_LATER)
    assert refused.json()["detail"].startswith("pending+running cap: student alice has 2 of 2 jobs pending or running")
    assert alice.post(f"/tasks/{first}/cancel").json()["state"] == "failed"  # a pending job called off is final
    assert statuses(alice, 2) == [202, 429]  # its place is free again, and only its place
    assert queued(conn) == 2  # the cancelled one left the queue


def test_a_batch_over_the_cap_is_refused_whole(
    classroom: None, client: TestClient, conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_MAX_ACTIVE", "5")
    alice = join(client, "alice")
    assert statuses(alice, 1, n=3) == [202]
    refused = post(alice, n=3)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert "student alice has 3 of 5 jobs pending or running, this request adds 3" in refused.json()["detail"]
    assert alice.get("/tasks").json()["count"] == 3 and queued(conn) == 3  # nothing of the batch went in
    too_big = post(alice, n=6)  # more than the cap at all: waiting cannot help
    assert too_big.status_code == 422 and "send at most 5" in too_big.json()["detail"]
    assert statuses(alice, 1, n=2) == [202] and queued(conn) == 5


def test_the_global_queue_depth_limit_refuses_everyone(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_MAX_QUEUE_DEPTH", "3")  # an open lab: only the depth is checked
    assert statuses(client, 1, n=2) == [202]
    assert statuses(client, 1, n=2) == [429]  # 2 + 2 > 3: the batch is refused whole
    assert statuses(client, 2) == [202, 429]
    refused = post(client)
    assert refused.headers["Retry-After"] == str(admission.RETRY_LATER)
    assert refused.json()["detail"].startswith("queue depth limit: the queues hold 3 waiting jobs of 3")


def test_limits_hold_across_two_api_processes(
    classroom: None, client: TestClient, second_app: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_RATE_LIMIT", "4")
    monkeypatch.setenv("LAB_MAX_ACTIVE", "3")
    token = client.post("/students", json={"name": "alice"}).json()["token"]
    one, two = as_(client, token), as_(second_app, token)
    assert [post(one).status_code, post(two).status_code, post(one).status_code] == [202, 202, 202]
    for app in (one, two):  # the cap is full, whichever process is asked
        assert "has 3 of 3" in post(app).json()["detail"]
    monkeypatch.setenv("LAB_MAX_ACTIVE", "0")
    assert [post(two).status_code, post(one).status_code, post(two).status_code] == [202, 429, 429]


def test_the_open_lab_is_not_rate_limited_by_default(client: TestClient, conn: redis.Redis) -> None:
    assert statuses(client, 3, n=100) == [202] * 3  # lessons and tests submit hundreds at once
    assert queued(conn) == 300


def test_on_limits_each_client_address_in_an_open_lab(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_ADMISSION", "on")
    monkeypatch.setenv("LAB_RATE_LIMIT", "2")
    assert statuses(client, 3) == [202, 202, 429]
    assert "for client testclient" in post(client).json()["detail"]
    monkeypatch.setenv("LAB_ADMISSION", "off")
    assert statuses(client, 2) == [202, 202]


def test_bad_input_is_a_422_and_costs_no_token(classroom: None, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_RATE_LIMIT", "1")
    alice = join(client, "alice")
    bad = [
        alice.post("/tasks", json={"task": "slow_task", "params": {"steps": -1}}),
        alice.post("/tasks/batch", json={"jobs": [NOOP, {"task": "slow_task", "params": {"steps": "x"}}]}),
        alice.post("/tasks", json={"task": "nope"}),
    ]
    assert [answer.status_code for answer in bad] == [422, 422, 422]
    assert statuses(alice, 2) == [202, 429]  # the one token was still there for a good request


def test_every_submit_route_documents_its_429(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    submits = [
        ("/tasks", "post"),
        ("/tasks/batch", "post"),
        ("/scenarios/documents", "post"),
        ("/scenarios/summaries", "post"),
        ("/dlq/{job_id}/redrive", "post"),
        ("/documents", "post"),
    ]
    for path, method in submits:
        too_many = paths[path][method]["responses"]["429"]
        assert too_many["headers"]["Retry-After"]["schema"] == {"type": "integer"}, path
        assert too_many["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    assert "429" not in paths["/tasks"]["get"]["responses"]  # reading is never refused


def test_a_scenario_batch_is_admitted_or_refused_whole(
    classroom: None, client: TestClient, conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_MAX_ACTIVE", "10")
    alice = join(client, "alice")
    answers = [alice.post("/scenarios/summaries", json={"n": 6}) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [202, 429]
    assert "has 6 of 10" in answers[1].json()["detail"] and queued(conn) == 6
    active = conn.zrange("lab:admission:active:student:alice", 0, -1)
    assert sorted(raw.decode() for raw in active) == sorted(batches.job_ids(conn, answers[0].json()["batch"]))


def test_an_upload_to_process_over_the_cap_keeps_nothing(
    classroom: None, client: TestClient, conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_MAX_ACTIVE", "2")
    alice = join(client, "alice")
    pdf = b"%PDF-1.4\n" + b"x" * 200 + b"\n%%EOF\n"
    files = [("files", (f"{name}.pdf", pdf, "application/pdf")) for name in ("a", "b")]

    def documents() -> int:
        return len(alice.get("/documents").json()["documents"])

    assert alice.post("/documents?process=true", files=files[:1]).status_code == 201
    refused = alice.post("/documents?process=true", files=files)
    assert refused.status_code == 429 and "has 1 of 2" in refused.json()["detail"]
    assert (documents(), queued(conn)) == (1, 1)  # nothing of it stored, nothing enqueued
    not_a_pdf = alice.post("/documents?process=true", files=[("files", ("c.pdf", b"hello", "application/pdf"))])
    assert not_a_pdf.status_code == 415  # admitted, then refused: its place is given back
    assert alice.post("/documents?process=true", files=files[1:]).status_code == 201
    assert (documents(), queued(conn)) == (2, 2)
