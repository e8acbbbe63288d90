"""Scenario 1's jobs: one PDF, or a batch of PDFs, read, chunked, embedded and indexed; then the batch's summary."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .. import jobs as _views
from .. import keys, students
from ..broker import get_connection
from ..clock import scaled
from ..document_folders import inside_lab
from ..embedder import get_embedder
from ..indexing import DocumentError, index_pdf
from ..job_context import current_job
from ..progress import progress
from ..states import is_terminal


def resolve_document(ref: str) -> Path:
    """A document reference (a name under the documents folder, or a path inside an allowed root).

    Checked twice: at submit (params validation) and here in the worker, for a
    job written into Redis without going through ``submit()``.
    """
    candidate = inside_lab(ref)
    if candidate is None:
        raise DocumentError(f"document {ref!r} is outside the lab's document folders")
    if not candidate.is_file():
        raise DocumentError(f"file not found: {ref}")
    return candidate


def process_document(document: str) -> dict[str, Any]:
    """Extract the text of one PDF with pypdf, chunk it, embed it and index it."""
    return index_pdf(resolve_document(document), progress=progress)


def process_documents(documents: list[str]) -> dict[str, Any]:
    """Process a batch of PDFs with progress per file; a broken file does not stop the batch."""
    results: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    total = len(documents)
    progress(0, total, "starting")
    for done, ref in enumerate(documents, start=1):
        try:
            results.append(index_pdf(resolve_document(ref)))
        except DocumentError as exc:
            failed.append({"document": ref, "reason": str(exc)})
        progress(done, total, f"{ref}: {'failed' if failed and failed[-1]['document'] == ref else 'indexed'}")
    return {"indexed": len(results), "failed": failed, "results": results}


def _wait_until_ended(conn: Any, ids: list[str], wait: float) -> None:
    """Until the event log says every job of ``ids`` has ended (at once on RQ and Celery: they start the summary then)."""
    if not ids:
        return
    deadline = time.monotonic() + scaled(wait)
    reported = -1
    while True:
        with conn.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(keys.JOB_STATES, job_id)
            ended = sum(raw is not None and is_terminal(raw.decode()) for raw in pipe.execute())
        if ended != reported:
            progress(ended, len(ids), f"{ended} of {len(ids)} files ended")
            reported = ended
        if ended == len(ids):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ids) - ended} of {len(ids)} files had not ended after {wait:g} s")
        time.sleep(max(0.02, min(0.5, scaled(0.5))))


def summarize_batch(batch: str, jobs: list[str], wait: float = 600) -> dict[str, Any]:
    """All files, then a summary: how many PDFs were indexed, how many failed and why, the chunks indexed.

    It runs once every ``process_document`` job in ``jobs`` has ended, completed or failed: RQ starts it then
    (``Dependency(allow_failure=True)``), Celery too (the body of a ``chord``). ARQ has no dependencies, so there
    it is sent with the files and waits (at most ``wait`` demo seconds) until the event log says they all ended.
    What it reports comes from the event log and each job's result, not from the files again.
    """
    job = current_job()
    conn = job.conn if job is not None else get_connection()
    student = job.meta.get("student") if job is not None else None
    # in a classroom a student's summary reads only that student's jobs (another's is "no such job", as in the API)
    owners = students.owners_of(conn, jobs) if student else [None] * len(jobs)
    foreign = {job_id for job_id, owner in zip(jobs, owners, strict=True) if student and owner != student}
    mine = [job_id for job_id in jobs if job_id not in foreign]
    _wait_until_ended(conn, mine, wait)
    indexed: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = [
        {"document": job_id, "job": job_id, "reason": "unknown", "error": "no such job (or another student's)"}
        for job_id in jobs
        if job_id in foreign
    ]
    for job_id in mine:
        view = _views.job_view(conn, job_id)
        first = (view["events"] or [{}])[0]
        document = Path(str((first.get("params") or {}).get("document", job_id))).name
        if view["state"] == "completed":
            indexed.append({"document": document, "chunks": int((view["result"] or {}).get("chunks", 0))})
        else:
            failures.append({"document": document, "job": job_id, "reason": view["reason"], "error": view["error"]})
    chunks = sum(row["chunks"] for row in indexed)
    why = "; ".join(f"{row['document']}: {row['error']}" for row in failures)
    line = f"{len(indexed)} of {len(jobs)} files indexed ({chunks} chunks), {len(failures)} failed" + (f": {why}" if why else "")
    return {"batch": batch, "total": len(jobs), "indexed": len(indexed), "failed": len(failures), "chunks": chunks,
            "failures": failures, "summary": line[:2000]}  # fmt: skip


def warm_up() -> str:
    """Choose the embedder once in the worker itself (a forking worker would probe for a model per job)."""
    return f"embedder {get_embedder().name}"
