"""Scenario 1 throughput: PDFs per second with 1 worker and with 2 workers, in one run.

    python benchmarks/documents.py                  # REDIS_URL if set, else the embedded broker
    python benchmarks/documents.py --pdfs 80 --kind simple
    python benchmarks/documents.py --model-pdfs 0   # the hashing fallback only

Each PDF is one ``process_document`` job (pypdf extraction, chunking, embedding,
storing in the index). The corpus is generated first; only the batch from
submission to its last job is timed. Embedding is part of the work: the same
is measured with the hashing fallback (``--rounds`` runs, the best kept) and
with the lab's real model (one run each, on the first ``--model-pdfs`` PDFs:
it costs about 0.1 s of CPU per chunk). Each worker loads the model once, when
it starts (``labs.tasks.documents.warm_up``); a forking worker's jobs share it.
Goal on 2 cores: ratio >= 1.6.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def run(n_workers: int, kind: str, paths: list[Path], cores: int) -> float:
    from labs import keys
    from labs.indexing import DocumentIndex
    from labs.scenarios import batches, pdfs
    from labs.session import LabSession

    DocumentIndex().clear()  # the workers choose their embedder from LAB_EMBEDDER, set by the caller
    # the model's threads share the cores between the workers (ONNX Runtime would take them all in each)
    os.environ["LAB_EMBED_THREADS"] = str(max(1, cores // n_workers))
    with LabSession(workers=n_workers, kind=kind) as lab:
        start = time.perf_counter()
        batch_id = pdfs.start(lab.conn, paths, summary=False)  # PDFs per second: the files only
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
    parser.add_argument("--rounds", type=int, default=2, help="runs with the fallback (the model: one run)")
    parser.add_argument("--model-pdfs", type=int, default=20, help="PDFs for the real model's runs (0: skip them)")
    args = parser.parse_args()
    os.environ.setdefault("LAB_STATE_DIR", tempfile.mkdtemp(prefix="lab-bench-"))

    from labs.broker import stop_background_broker
    from labs.embedder import get_embedder, reset_embedder
    from labs.scenarios.pdfs import sample_corpus

    paths = sample_corpus(args.pdfs, seed=1)
    cores = os.cpu_count() or 1
    print(f"broker: {os.environ.get('REDIS_URL', 'embedded (fakeredis)')}   worker: {args.kind}   PDFs: {len(paths)}")
    print(f"model threads per worker: {cores} cores / workers (LAB_EMBED_THREADS)")
    plans = [("fallback", paths, args.rounds)] + ([("auto", paths[: args.model_pdfs], 1)] if args.model_pdfs else [])
    rows = []
    try:
        for mode, corpus, rounds in plans:
            os.environ["LAB_EMBEDDER"] = mode  # read by the workers LabSession starts
            reset_embedder()
            name = get_embedder().name  # what the workers will choose (the same settings)
            if mode == "auto" and not name.startswith("fastembed:"):
                print(f"no real model: {get_embedder().reason}")
                continue
            one = [run(1, args.kind, corpus, cores) for _ in range(rounds)]
            two = [run(2, args.kind, corpus, cores) for _ in range(rounds)]
            rows.append((name, len(corpus), one, two))
    finally:
        stop_background_broker()
    print(f"{'embedder':34} {'PDFs':>4}  {'1 worker':>14}  {'2 workers':>14}  ratio 2/1")
    for name, count, one, two in rows:
        best1, best2 = max(one), max(two)
        print(f"{name:34} {count:4}  {best1:7.2f} PDFs/s  {best2:7.2f} PDFs/s  {best2 / best1:.2f}")
        if len(one) > 1:
            print(f"{'':34} {'':4}  runs: {', '.join(f'{x:.2f}' for x in one)} | {', '.join(f'{x:.2f}' for x in two)}")
    print("goal: ratio >= 1.6 on 2 cores")


if __name__ == "__main__":
    main()
