"""The seed's three scenarios through the API, on real workers of the seed's engine for each and of RQ."""

from __future__ import annotations

import json
import time

import pytest
from httpx_sse import connect_sse

from labs.samples import topic_of
from labs.scenarios import SEED_ENGINES
from labs.session import LabSession


def engines_for(scenario: str) -> list[str]:
    """The seed's engine for the scenario, and RQ (the other pairings: tests/test_scenarios.py's slow lane)."""
    return [SEED_ENGINES[scenario], "rq"]


@pytest.fixture
def lab2(broker: str, engine: str):
    with LabSession(workers=2, kind="fork", engine=engine) as lab:
        yield lab


def wait_summary(client, batch: dict, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(batch["links"]["self"]).json()
        if status["summary"]["state"] in {"completed", "failed"}:
            return status
        time.sleep(0.1)
    raise AssertionError(f"no summary: {status['summary']}")


@pytest.mark.parametrize("engine", engines_for("documents"))
def test_documents_batch_progress_is_pushed_over_websocket(client, lab2: LabSession, engine: str) -> None:
    started = client.post("/scenarios/documents", json={"samples": 18, "broken": 2, "engine": engine})
    assert started.status_code == 202, started.text
    batch = started.json()
    assert batch["engine"] == engine
    frames = []
    with client.websocket_connect(batch["links"]["ws"]) as ws:
        while True:
            frame = json.loads(ws.receive_text())
            frames.append(frame)
            if frame["type"] == "end":
                break
    assert frames[0]["type"] == "snapshot" and frames[0]["batch"]["total"] == 20
    progress = [f["percent"] for f in frames if f["type"] == "batch"]
    pushed = [
        (f["job_id"][:8], f["event"], f.get("attempt"), (f.get("progress") or {}).get("percent"))
        for f in frames
        if f["type"] == "event"
    ]
    assert progress == sorted(progress), list(zip(pushed, progress, strict=True))  # no step back: no replay, no second run
    assert len(set(progress)) > 5  # whole-batch progress, step by step
    per_file = [f for f in frames if f["type"] == "event" and f["event"] == "progress"]
    assert len({f["job_id"] for f in per_file}) > 1  # per-file progress too
    end = frames[-1]["batch"]
    assert (end["completed"], end["failed"], end["percent"], end["engine"]) == (18, 2, 100.0, engine)
    assert {f["engine"] for f in frames if f["type"] == "event"} == {engine}  # the same frames, whichever engine
    status = wait_summary(client, batch)
    reasons = [row["error"] for row in status["jobs"] if row["state"] == "failed"]
    assert len(reasons) == 2 and all("DocumentError" in r for r in reasons)
    # then a summary (on Celery: the chord's body, which runs though two header tasks failed)
    report = status["summary"]["result"]
    assert (report["indexed"], report["failed"]) == (18, 2), status["summary"]
    assert sorted(f["document"] for f in report["failures"]) == ["broken-001.pdf", "broken-002.pdf"]
    assert client.get(f"/tasks/{status['summary']['id']}").json()["result"] == report
    # search finds the right file, names the page and the embedder
    paths = sorted(row["label"] for row in status["jobs"] if row["state"] == "completed")
    topic = topic_of(paths[3])
    found = client.get("/search", params={"q": topic.query}).json()
    hits = found["results"]
    assert topic_of(hits[0]["source"]) == topic and hits[0]["page"] >= 1 and hits[0]["embedder"]
    # the answer says which embedder is in use, and why the fallback (the tests choose it)
    assert found["embedder"]["name"] == hits[0]["embedder"] and "LAB_EMBEDDER=fallback" in found["embedder"]["reason"]


@pytest.mark.parametrize("engine", engines_for("agent"))
def test_agent_chain_streams_its_steps_over_sse(client, lab2: LabSession, engine: str) -> None:
    done = client.post("/scenarios/documents", json={"samples": 6, "engine": engine}).json()
    wait_summary(client, done)
    question = {"question": "how do couriers handle a missed delivery?"}
    job = client.post("/tasks", json={"task": "agent_chain", "params": question, "engine": engine})
    assert job.status_code == 202
    steps = []
    with connect_sse(client, "GET", job.json()["links"]["stream"]) as source:
        for sse in source.iter_sse():
            if sse.event == "progress":
                steps.append(json.loads(sse.data)["step"])
            if sse.event == "end":
                break
    assert steps == ["start", "retrieve", "analyse", "answer"]
    view = client.get(f"/tasks/{job.json()['id']}").json()
    assert view["engine"] == engine and view["result"]["citations"] and view["result"]["answer"]


@pytest.mark.parametrize("engine", engines_for("summaries"))
def test_summaries_are_polled_until_all_are_in(client, lab2: LabSession, engine: str) -> None:
    started = client.post("/scenarios/summaries", json={"n": 10, "engine": engine}).json()
    assert started["engine"] == engine
    counts, etag = [], None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        reply = client.get(started["links"]["poll"], headers={"If-None-Match": etag} if etag else {})
        if reply.status_code != 304:
            counts.append(reply.json()["count"])
            etag = reply.headers["ETag"]
            if counts[-1] == 10:
                break
        time.sleep(0.05)
    assert counts == sorted(counts) and counts[-1] == 10 and len(counts) > 1
    again = client.get(started["links"]["poll"], headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""  # polling while nothing changed costs a 304
    rows = client.get(started["links"]["poll"], params={"rows": True}).json()["rows"]
    assert len(rows) == 10 and all(r["summary"] for r in rows)


def test_bad_scenario_requests_are_clear(client) -> None:
    assert client.post("/scenarios/documents", json={}).status_code == 422
    reply = client.post("/scenarios/documents", json={"documents": ["../../etc/passwd"]})
    assert reply.status_code == 422 and "body.documents.0" in reply.json()["detail"]  # not an id at all
    reply = client.post("/scenarios/documents", json={"documents": ["0123456789ab-never-uploaded.pdf"]})
    assert reply.status_code == 404 and "upload it" in reply.json()["detail"]
    assert client.get("/batches/b-nope").status_code == 404
    for path, body in (("/scenarios/documents", {"samples": 1}), ("/scenarios/summaries", {"n": 1})):
        reply = client.post(path, json={**body, "engine": "dramatiq"})
        assert reply.status_code == 422 and "rq, celery, arq" in reply.json()["detail"], reply.text
    assert client.get("/tasks").json()["tasks"] == []  # refused before anything was sent
    assert client.get("/scenarios/summaries/b-nope").status_code == 404
