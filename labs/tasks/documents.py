"""Scenario 1's jobs: one PDF, or a batch of PDFs, read, chunked, embedded and indexed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..document_folders import inside_lab
from ..embedder import get_embedder
from ..indexing import DocumentError, index_pdf
from ..progress import progress


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


def warm_up() -> str:
    """Choose the embedder once in the worker itself (a forking worker would probe for a model per job)."""
    return f"embedder {get_embedder().name}"
