"""Bad input gets a clear error and loses nothing; the worker keeps serving."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from labs import dlq, events
from labs.document_folders import documents_dir
from labs.errors import InvalidParams
from labs.samples import make_sample_pdfs
from labs.session import LabSession
from labs.settings import REPO_ROOT
from labs.task_queue import lab_queue
from labs.testing.bad_input import crafted_traversal


def test_corrupt_pdf_fails_its_job_and_the_worker_keeps_serving(lab: LabSession) -> None:
    paths = make_sample_pdfs(documents_dir() / "samples", 1, broken=2)
    good, broken = paths[0], paths[1:]
    for path in broken:
        job_id = lab.submit("process_document", {"document": str(path)})
        result = lab.wait(job_id)
        assert result.state == "failed" and result.attempts == 1  # a broken PDF is not retried
        reason = result.errors[-1]
        assert reason.startswith("DocumentError:") and ("PDF" in reason or "empty" in reason), reason
    ok = lab.wait(lab.submit("process_document", {"document": str(good)}))
    assert ok.state == "completed"
    assert len(dlq.list_entries(lab.conn)) == 2


def test_documents_outside_the_lab_folders_are_refused(lab: LabSession) -> None:
    for ref in ("../../../../etc/passwd", "/etc/passwd"):  # at submit: a clear error, nothing enqueued
        with pytest.raises(InvalidParams, match="outside the lab's document folders"):
            lab.submit("process_document", {"document": ref})
    with pytest.raises(InvalidParams, match=r"documents: .*outside the lab's document folders"):
        lab.submit("process_documents", {"documents": ["ok.pdf", "../../etc/shadow"]})
    # written straight into Redis past submit(): the worker refuses it too
    result = lab.wait(crafted_traversal(lab.conn))
    assert result.state == "failed"
    assert "outside the lab's document folders" in result.errors[-1]


def test_a_batch_goes_on_past_a_broken_file(lab: LabSession) -> None:
    paths = make_sample_pdfs(documents_dir() / "batch", 3, broken=1)
    job_id = lab.submit("process_documents", {"documents": [str(p) for p in paths]})
    result = lab.wait(job_id)
    assert result.state == "completed"
    from labs.jobs import job_view

    out = job_view(lab.conn, job_id)
    assert out["result"]["indexed"] == 3 and len(out["result"]["failed"]) == 1
    progress = [e.progress["done"] for e in events.job_events(lab.conn, job_id) if e.event == "progress"]
    assert progress == [0, 1, 2, 3, 4]


def test_a_crafted_payload_written_straight_into_redis_is_refused(lab: LabSession) -> None:
    # bypass the lab's submit(): enqueue an arbitrary function with RQ itself
    job = lab_queue(lab.conn).enqueue("os.getcwd", job_id="crafted-1", meta={"task": "os.getcwd"})
    result = lab.wait(job.id)
    assert result.state == "failed"
    assert "ForbiddenTask" in result.errors[-1] and "not in the lab's task catalogue" in result.errors[-1]
    assert lab.conn.hget(b"rq:job:crafted-1", "status") == b"failed"
    assert lab.wait(lab.submit("noop", {"value": 2})).state == "completed"  # still serving


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labs", *args], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=60
    )


def test_a_missing_broker_is_one_clear_line(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "LAB_STATE_DIR": str(tmp_path)}
    env.pop("REDIS_URL", None)
    out = _cli("workers", env=env)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "no broker is running" in out.stderr and "python -m labs broker" in out.stderr
    out = _cli("worker", env={**env, "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "no broker answers at redis://127.0.0.1:1/0" in out.stderr
    out = _cli("submit", "no_such_task", env={**env, "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_unknown_task_from_the_cli_is_one_clear_line(broker: str) -> None:
    import os

    out = _cli("submit", "os.system", '{"command": "id"}', env=dict(os.environ))
    assert out.returncode == 2 and "unknown task 'os.system'" in out.stderr and "Traceback" not in out.stderr
    out = _cli("submit", "slow_task", "{not json", env=dict(os.environ))
    assert out.returncode == 2 and "must be JSON" in out.stderr
    out = _cli("submit", "noop", "--student", "../../etc", env=dict(os.environ))
    assert out.returncode == 2 and "is not a name" in out.stderr and "Traceback" not in out.stderr
    assert redis.Redis.from_url(broker).xlen("lab:events") == 0


def test_submit_wait_names_the_outcome_and_only_a_failures_reason(lab: LabSession) -> None:
    import os

    out = _cli("submit", "send_email", '{"fail_first": 1}', "--wait", "60", env=dict(os.environ))
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "completed after 2 attempt(s)"  # not its retry's "error"
    out = _cli("submit", "risky_task", '{"data": {"poison": true}, "fail_fast": true}', "--wait", "60", env=dict(os.environ))
    assert out.returncode == 1 and re.fullmatch(r"failed after 1 attempt\(s\) \(\w+\)", out.stdout.splitlines()[-1])
