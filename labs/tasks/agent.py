"""Scenario 2's job — AI Agent推理（3步推理链）: queue + SSE.

A deterministic three-step chain that needs no network model: **retrieve**
passages from the scenario-1 index, **analyse** them (pick the sentences that
share the most words with the question), **answer** with citations. Each step
reports ``progress()`` with its output, so an SSE client (``/tasks/{id}/stream``)
sees the steps as they happen — like a help-desk agent telling you the solution
one step at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..clock import sleep
from ..embedder import tokenize
from ..indexing import search
from ..progress import progress as report_progress

STEPS = ("retrieve", "analyse", "answer")
Progress = Callable[..., Any]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.strip()) > 20]


def retrieve(question: str, k: int) -> list[dict[str, Any]]:
    return search(question, k=k)


def analyse(question: str, passages: list[dict[str, Any]], keep: int = 3) -> list[dict[str, Any]]:
    """The sentences that share the most words with the question, with their source."""
    words = set(tokenize(question))
    scored = []
    for passage in passages:
        for sentence in _sentences(passage["text"]):
            overlap = len(words & set(tokenize(sentence)))
            if overlap:
                scored.append({"sentence": sentence, "overlap": overlap, "source": passage["source"], "page": passage["page"]})
    scored.sort(key=lambda row: (-row["overlap"], row["source"], row["page"]))
    return scored[:keep]


def answer(question: str, evidence: list[dict[str, Any]]) -> dict[str, Any]:
    if not evidence:
        return {"answer": "I found nothing in the indexed documents about that.", "citations": []}
    lines = [f"{row['sentence']} [{i}]" for i, row in enumerate(evidence, start=1)]
    citations = [{"n": i, "source": row["source"], "page": row["page"]} for i, row in enumerate(evidence, start=1)]
    return {"answer": " ".join(lines), "citations": citations}


def run_chain(question: str, k: int = 3, step_seconds: float = 1.0, progress: Progress | None = None) -> dict[str, Any]:
    """Run the three steps, reporting each step's output through ``progress``."""

    def report(done: int, step: str, output: Any) -> None:
        if progress is not None:
            progress(done, len(STEPS), f"step {done}/3: {step}", step=step, output=output)

    report(0, "start", {"question": question})
    passages = retrieve(question, k)
    sleep(step_seconds)
    report(1, "retrieve", [{"source": p["source"], "page": p["page"], "score": round(p["score"], 3)} for p in passages])
    evidence = analyse(question, passages)
    sleep(step_seconds)
    report(2, "analyse", evidence)
    result = answer(question, evidence)
    sleep(step_seconds)
    report(3, "answer", result)
    return {"question": question, **result, "embedder": passages[0]["embedder"] if passages else None}


def agent_chain(question: str, k: int = 3, step_seconds: float = 1.0) -> dict[str, Any]:
    """Retrieve → analyse → answer over the document index, each step streamed as progress."""
    return run_chain(question, k=k, step_seconds=step_seconds, progress=report_progress)
