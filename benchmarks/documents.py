"""Scenario 1 throughput: PDFs per second with 1 worker and with 2 workers, in one run.

    python benchmarks/documents.py                  # REDIS_URL if set, else the embedded broker
    python benchmarks/documents.py --pdfs 80 --kind simple

Each PDF is one ``process_document`` job (pypdf extraction, chunking, embedding,
storing in the index). The corpus is generated first; only the batch from
submission to its last job is timed. Goal on 2 cores: ratio >= 1.6.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def run(n_workers: int, kind: str, paths: list[Path]) -> float:
    from labs import keys
    from labs.indexing import DocumentIndex
    from labs.scenarios import batches, pdfs
    from labs.session import LabSession

    DocumentIndex().clear()
    with LabSession(workers=n_workers, kind=kind) as lab:
        start = time.perf_counter()
        batch_id = pdfs.start(lab.conn, paths)
        ids = batches.job_ids(lab.conn, batch_id)
        while True:  # one HMGET of the event log's state index per look: cheap, so it does not slow the workers
            states = [s.decode() if s else "" for s in lab.conn.hmget(keys.JOB_STATES, ids)]
            if all(s in {"completed", "failed"} for s in states):
                break
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
    assert states.count("completed") == len(paths), batches.status(lab.conn, batch_id)
    return len(paths) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pdfs", type=int, default=60)
    parser.add_argument("--kind", choices=["fork", "simple"], default="simple")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("LAB_STATE_DIR", tempfile.mkdtemp(prefix="lab-bench-"))
    os.environ.setdefault("LAB_EMBEDDER", "auto")

    from labs.broker import stop_background_broker
    from labs.embedder import get_embedder
    from labs.scenarios.pdfs import sample_corpus

    paths = sample_corpus(args.pdfs, seed=1)
    print(f"broker: {os.environ.get('REDIS_URL', 'embedded (fakeredis)')}   worker: {args.kind}   PDFs: {len(paths)}")
    print(f"embedder: {get_embedder().name}")
    try:
        one = [run(1, args.kind, paths) for _ in range(args.rounds)]
        two = [run(2, args.kind, paths) for _ in range(args.rounds)]
    finally:
        stop_background_broker()
    best1, best2 = max(one), max(two)
    print(f"1 worker : {best1:6.1f} PDFs/s   (runs: {', '.join(f'{x:.1f}' for x in one)})")
    print(f"2 workers: {best2:6.1f} PDFs/s   (runs: {', '.join(f'{x:.1f}' for x in two)})")
    print(f"ratio 2/1: {best2 / best1:.2f}   (goal >= 1.6 on 2 cores)")


if __name__ == "__main__":
    main()
