"""The returns centre over HTTP: list, inspect, redrive with corrected params, discard."""

from __future__ import annotations

import pytest
from api_helpers import submit, wait_event, wait_state
from fastapi.testclient import TestClient

from labs.session import LabSession


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_dead_letters_can_be_listed_redriven_and_discarded(lab: LabSession, client: TestClient) -> None:
    poison = {"data": {"poison": True, "row": 1}, "fail_fast": True}
    first = submit(client, "risky_task", poison)
    second = submit(client, "risky_task", {**poison, "data": {"poison": True, "row": 2}})
    for job_id in (first, second):
        wait_event(client, job_id, "dead_lettered")

    listed = client.get("/dlq").json()
    assert listed["count"] == 2 and {e["id"] for e in listed["entries"]} == {first, second}
    entry = client.get(f"/dlq/{first}").json()
    assert entry["task"] == "risky_task" and entry["reason"] == "permanent" and "poison" in entry["error"]
    assert entry["params"] == poison and [e["event"] for e in entry["events"]][-1] == "dead_lettered"

    # a correction that does not fit the task is refused (409: it conflicts with the job), and the parcel stays
    refused = client.post(f"/dlq/{first}/redrive", json={"params": {"data": [], "fail_fast": True}})
    assert refused.status_code == 409 and "risky_task: data" in refused.json()["detail"]  # valid JSON, wrong task
    assert client.get("/dlq").json()["count"] == 2

    redriven = client.post(f"/dlq/{first}/redrive", json={"params": {"data": {"poison": False, "row": 1}}})
    assert redriven.status_code == 202
    new = redriven.json()
    assert new["id"] != first and new["redrive_of"] == first and new["links"]["stream"] == f"/tasks/{new['id']}/stream"
    view = wait_state(client, new["id"], {"completed"})
    assert view["result"] == {"processed": {"poison": False, "row": 1}} and view["redrive_of"] == first
    assert client.get(f"/tasks/{first}").json()["events"][-1]["event"] == "redriven"

    assert client.delete(f"/dlq/{second}").json() == {"id": second, "discarded": True}
    assert client.get("/dlq").json() == {"count": 0, "entries": []}
    assert client.delete(f"/dlq/{second}").status_code == 404
    assert client.post(f"/dlq/{first}/redrive").status_code == 404  # already redriven: no longer there
