"""Scenario 1 — 文档批量处理（100个PDF）: queue + WebSocket.

Each PDF becomes its own ``process_document`` job (pypdf → chunks → embeddings
→ the searchable index), so a broken PDF fails its own job with a readable
reason and the rest of the batch goes on. Then one ``summarize_batch`` job
reports the whole batch (how many files were indexed, how many failed and why,
the chunks indexed): all files, then a summary. The seed runs this scenario on
**Celery**, where that is a ``chord`` (a group of ``process_document`` jobs, the
summary as its body); on RQ it is a ``Dependency(allow_failure=True)``, on ARQ a
summary that waits for the files (see :mod:`labs.scenarios.batches`). The API pushes per-file and batch
progress over ``/ws/batches/{id}``; :func:`labs.indexing.search` finds the best
chunks with their source file, page and the embedder that produced them.
"""

from __future__ import annotations

from pathlib import Path

import redis

from ..document_folders import documents_dir
from ..samples import make_sample_pdfs
from . import batches


def sample_corpus(n: int = 100, broken: int = 0, seed: int = 0, folder: str | Path | None = None) -> list[Path]:
    """``n`` sample PDFs plus ``broken`` broken ones in the lab's documents folder, made once per seed.

    The first ``k`` samples are the same files whatever ``n``, so every call shares one folder and
    makes only the files it lacks (the API's ``POST /scenarios/documents`` stays quick after the first).
    """
    target = Path(folder) if folder else documents_dir() / f"samples-{seed}"
    return make_sample_pdfs(target, n, broken=broken, seed=seed, keep=True)


def start(
    conn: redis.Redis,
    documents: list[str | Path],
    student: str | None = None,
    engine: str | None = None,
    summary: bool = True,
) -> str:
    """Submit one ``process_document`` job per PDF as one batch on ``engine`` (default ``rq``); return the batch id.

    ``summary``: then one ``summarize_batch`` job once every file has ended (``batches.status(...)["summary"]``).
    """
    refs = [str(d) for d in documents]
    params = [{"document": r} for r in refs]
    return batches.create(
        conn, "documents", "process_document", params, labels=[Path(r).name for r in refs], student=student, engine=engine,
        then="summarize_batch" if summary else None,
    )  # fmt: skip
