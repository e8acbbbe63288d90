"""The seed's three scenarios end to end on real workers."""

from __future__ import annotations

import time

import pytest

from labs import events
from labs.indexing import search
from labs.samples import topic_of
from labs.scenarios import batches, pdfs, summaries
from labs.session import LabSession
from labs.tasks import agent


@pytest.fixture
def lab2(broker: str):
    with LabSession(workers=2, kind="fork") as lab:
        yield lab


def wait_batch(lab: LabSession, batch_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = batches.status(lab.conn, batch_id)
        if status["finished"]:
            return status
        time.sleep(0.2)
    raise AssertionError(f"batch {batch_id} not finished: {status}")


def test_documents_batch_indexes_good_pdfs_and_fails_broken_ones(lab2: LabSession) -> None:
    paths = pdfs.sample_corpus(18, broken=2)
    batch_id = pdfs.start(lab2.conn, paths)
    status = wait_batch(lab2, batch_id)
    assert (status["total"], status["completed"], status["failed"], status["percent"]) == (20, 18, 2, 100.0)
    failed = [row for row in status["jobs"] if row["state"] == "failed"]
    assert sorted(row["label"] for row in failed) == ["broken-001.pdf", "broken-002.pdf"]
    assert all(row["error"].startswith("DocumentError:") for row in failed)
    # every event of every job carries the batch id, so a client can follow the batch on the firehose
    batch_events = [e for e in events.read_global(lab2.conn, count=100_000) if e.data.get("batch") == batch_id]
    assert {e.job_id for e in batch_events} == set(batches.job_ids(lab2.conn, batch_id))
    # a search finds the right file, with page numbers and the embedder on every result
    for path in paths[:5]:
        topic = topic_of(path)
        results = search(topic.query, k=3)
        assert topic_of(results[0]["source"]) == topic, (topic.slug, results[0]["source"])
        assert all(r["page"] >= 1 and r["embedder"].startswith("fallback:") for r in results)


def test_agent_chain_reports_its_three_steps_in_order(lab2: LabSession) -> None:
    paths = pdfs.sample_corpus(6)
    wait_batch(lab2, pdfs.start(lab2.conn, paths))
    topic = topic_of(paths[0])
    job_id = lab2.submit("agent_chain", {"question": f"What about {topic.query}?", "step_seconds": 0.5})
    result = lab2.wait(job_id)
    assert result.state == "completed"
    steps = [e.data["step"] for e in events.job_events(lab2.conn, job_id) if e.event == "progress"]
    assert steps == ["start", *agent.STEPS]
    answer = [e for e in events.job_events(lab2.conn, job_id) if e.data.get("step") == "answer"][0].data["output"]
    assert answer["citations"] and topic_of(answer["citations"][0]["source"]) == topic


def test_summaries_are_polled_from_the_database_until_all_are_in(broker: str) -> None:
    n = 12
    with LabSession(workers=0, kind="fork") as lab:  # the workers come after the first poll: it sees the table fill
        batch_id = summaries.start(lab.conn, n)
        polls = summaries.poll(batch_id, n, interval=5, timeout=120)
        observations = [next(polls)]
        assert observations[0]["count"] == 0
        lab.add_worker()
        lab.add_worker()
        observations += list(polls)
        counts = [o["count"] for o in observations]
        assert counts == sorted(counts) and counts[-1] == n and len(observations) >= 2
        rows = summaries.rows(batch_id)
        assert len(rows) == n and all(r["summary"] and r["worker"] for r in rows)
        assert {r["worker"] for r in rows} <= set(lab.procs)
