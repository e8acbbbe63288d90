"""The seed's three scenarios end to end on real workers, on the seed's engine for each and on RQ.

Scenario 1 (PDFs, WebSocket) on Celery as a ``chord``, scenario 2 (agent chain, SSE) on ARQ, scenario 3
(summaries, polling) on Celery, as the seed picks them; each also on RQ, the lab's default. Other
pairings run in the slow lane.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from labs import events, jobs
from labs.errors import InvalidParams
from labs.indexing import search
from labs.samples import topic_of
from labs.scenarios import SEED_ENGINES, batches, pdfs, summaries
from labs.session import LabSession
from labs.tasks import agent


def engines_for(scenario: str) -> list:
    """The seed's engine and RQ in the fast lane; the third engine in the slow one."""
    seed = SEED_ENGINES[scenario]
    others = [name for name in ("rq", "celery", "arq") if name not in {seed, "rq"}]
    return [seed, "rq", *(pytest.param(name, marks=pytest.mark.slow) for name in others)]


@pytest.fixture
def lab2(broker: str, engine: str) -> Iterator[LabSession]:
    with LabSession(workers=2, kind="fork", engine=engine) as lab:
        yield lab


def wait_batch(lab: LabSession, batch_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = batches.status(lab.conn, batch_id)
        if status["finished"] and status.get("summary", {"state": "completed"})["state"] in {"completed", "failed"}:
            return status
        time.sleep(0.2)
    raise AssertionError(f"batch {batch_id} not finished: {status}")


@pytest.mark.parametrize("engine", engines_for("documents"))
def test_documents_batch_indexes_good_pdfs_fails_broken_ones_then_summarises(lab2: LabSession, engine: str) -> None:
    paths = pdfs.sample_corpus(18, broken=2)
    batch_id = pdfs.start(lab2.conn, paths, engine=engine)
    status = wait_batch(lab2, batch_id)
    assert (status["total"], status["completed"], status["failed"], status["percent"]) == (20, 18, 2, 100.0)
    assert status["engine"] == engine
    failed = [row for row in status["jobs"] if row["state"] == "failed"]
    assert sorted(row["label"] for row in failed) == ["broken-001.pdf", "broken-002.pdf"]
    assert all(row["error"].startswith("DocumentError:") for row in failed)
    ids = batches.job_ids(lab2.conn, batch_id)
    # every event of every job carries the batch id, so a client can follow the batch on the firehose
    batch_events = [e for e in events.read_global(lab2.conn, count=100_000) if e.data.get("batch") == batch_id]
    assert {e.job_id for e in batch_events} == set(ids)
    assert {e.data["engine"] for e in batch_events} == {engine}
    # then a summary, which reports the broken PDFs (a chord's body on Celery, though two of its header tasks failed)
    summary = status["summary"]
    assert summary["task"] == "summarize_batch" and summary["state"] == "completed", summary
    report = summary["result"]
    assert (report["total"], report["indexed"], report["failed"]) == (20, 18, 2)
    assert report["chunks"] >= 18
    assert sorted(f["document"] for f in report["failures"]) == ["broken-001.pdf", "broken-002.pdf"]
    assert all(f["error"].startswith("DocumentError:") for f in report["failures"])
    assert "18 of 20 files indexed" in report["summary"] and "broken-001.pdf: DocumentError" in report["summary"]
    # in that order: the summary ends after every file's end is in the log; RQ starts it only then. Celery's chord
    # counts a failed task a moment before its task_failure signal writes the lab's ``failed``, and ARQ starts it
    # at once: there the summary waits until the log says every file ended
    ends = [events.job_events(lab2.conn, job_id)[-1].id for job_id in ids]
    summary_events = events.job_events(lab2.conn, summary["id"])
    assert [e.event for e in summary_events if e.event != "progress"] == ["enqueued", "started", "completed"], [
        (e.event, e.worker, e.attempt, e.message, e.data) for e in summary_events
    ]
    key = lambda event_id: tuple(int(part) for part in event_id.split("-"))  # noqa: E731 - the streams' shared ids
    assert key(summary_events[-1].id) > max(key(i) for i in ends)
    if engine == "rq":
        assert key(summary_events[1].id) > max(key(i) for i in ends)
    else:
        assert summary_events[1].event == "started" and summary_events[1].data["engine"] == engine
    if engine == "celery":  # Celery's own record of a broken PDF still says FAILURE: only the chord counts it as ended
        broken = next(row["id"] for row in failed)
        assert jobs.job_view(lab2.conn, broken)["rq_status"] == "FAILURE"
    # a search finds the right file, with page numbers and the embedder on every result
    for path in paths[:5]:
        topic = topic_of(path)
        results = search(topic.query, k=3)
        assert topic_of(results[0]["source"]) == topic, (topic.slug, results[0]["source"])
        assert all(r["page"] >= 1 and r["embedder"].startswith("fallback:") for r in results)


@pytest.mark.parametrize("engine", engines_for("agent"))
def test_agent_chain_reports_its_three_steps_in_order(lab2: LabSession, engine: str) -> None:
    paths = pdfs.sample_corpus(6)
    wait_batch(lab2, pdfs.start(lab2.conn, paths, engine=engine, summary=False))
    topic = topic_of(paths[0])
    job_id = lab2.submit("agent_chain", {"question": f"What about {topic.query}?", "step_seconds": 0.5})
    result = lab2.wait(job_id)
    assert result.state == "completed"
    history = events.job_events(lab2.conn, job_id)
    assert {e.data.get("engine") for e in history} == {engine}
    steps = [e.data["step"] for e in history if e.event == "progress"]
    assert steps == ["start", *agent.STEPS]
    answer = [e for e in history if e.data.get("step") == "answer"][0].data["output"]
    assert answer["citations"] and topic_of(answer["citations"][0]["source"]) == topic


@pytest.mark.parametrize("engine", engines_for("summaries"))
def test_summaries_are_polled_from_the_database_until_all_are_in(broker: str, engine: str) -> None:
    n = 12
    with LabSession(workers=0, kind="fork", engine=engine) as lab:  # workers after the first poll: it sees the table fill
        batch_id = summaries.start(lab.conn, n, engine=engine)
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
        assert {r["worker"] for r in rows} <= set(lab.procs)  # written by this engine's worker processes
        assert batches.status(lab.conn, batch_id)["engine"] == engine


def test_a_batch_with_an_unknown_engine_records_nothing(conn) -> None:
    with pytest.raises(InvalidParams, match="rq, celery, arq"):
        summaries.start(conn, 3, engine="dramatiq")
    assert conn.keys("lab:*") == []


def test_rq_enqueues_a_job_waiting_for_two_others_once_when_both_end_together(conn) -> None:
    """Two workers ending the last two dependencies at once both see every dependency met (RQ 3.0): one enqueue only."""
    from rq.job import Dependency, JobStatus

    from labs.task_queue import lab_queue

    queue = lab_queue(conn)
    first, second = queue.enqueue("labs.tasks.demo.noop"), queue.enqueue("labs.tasks.demo.noop")
    after = queue.enqueue("labs.tasks.demo.noop", depends_on=Dependency(jobs=[first, second], allow_failure=True))
    assert after.get_status() == JobStatus.DEFERRED
    for job in (first, second):  # both end before either worker looks at the dependents
        job.set_status(JobStatus.FINISHED)
    for job in (first, second):  # each worker then enqueues the dependents of its own job
        queue.enqueue_dependents(job)
    assert queue.get_job_ids().count(after.id) == 1


@pytest.mark.parametrize("engine", ["celery", "arq"])  # RQ treats a cancelled dependency as unmet (labs.scenarios.batches)
def test_a_file_cancelled_before_it_ran_still_lets_the_summary_run(broker: str, engine: str) -> None:
    with LabSession(workers=0, kind="fork", engine=engine) as lab:  # no worker yet: none hears Celery's revoke
        batch_id = pdfs.start(lab.conn, pdfs.sample_corpus(3), engine=engine)
        cancelled = batches.job_ids(lab.conn, batch_id)[0]
        assert jobs.cancel(lab.conn, cancelled) == "failed"
        lab.add_worker()
        status = wait_batch(lab, batch_id, timeout=60)
        report = status["summary"]["result"]
        assert (status["summary"]["state"], report["indexed"], report["failed"]) == ("completed", 2, 1)
        assert report["failures"][0]["job"] == cancelled and report["failures"][0]["reason"] == "cancelled"


def test_a_students_summary_reads_only_that_students_jobs(conn) -> None:
    """In a classroom, summarize_batch sent with another student's job ids learns nothing of them (as the API says 404)."""
    from labs.job_context import JobContext, running
    from labs.tasks.documents import summarize_batch

    mine = jobs.submit(conn, "noop", {}, student="alice")
    theirs = jobs.submit(conn, "noop", {}, student="bob")  # pending for good: no worker runs here
    jobs.cancel(conn, mine)
    ctx = JobContext(id="s-1", conn=conn, engine="rq", task="summarize_batch", attempt=1, worker="w", meta={"student": "alice"})
    with running(ctx):
        report = summarize_batch("b-x", [mine, theirs], wait=0)  # waits for none of bob's jobs
    assert [(f["job"], f["reason"]) for f in report["failures"]] == [(theirs, "unknown"), (mine, "cancelled")]
    assert (report["total"], report["indexed"], report["failed"]) == (2, 0, 2)
