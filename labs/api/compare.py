"""``GET /search/compare``: the same queries through the hashing embedder and the real model, side by side.

Scenario 1's search, shown for why it needs a real model: the sample handbooks
(one per topic) indexed by both embedders, and for each query the rank of its
right handbook under each (:mod:`labs.embedder_compare`, which lesson 11 uses
too). Without ``q``: the sample queries (keywords, paraphrases that share no
content word with their handbook, Chinese), with ``handbook`` only those whose
right handbook it is; with ``q``: that query, and with ``handbook`` that
handbook's rank for it.

The model embeds about 70 chunks to build the index: seconds on a small
machine, too long to hold a request (and the lab's own lesson). So the first
call starts the build in a thread of this API process and answers ``202`` with
its progress (``Retry-After: 1``); poll until ``200``. If the real model cannot
be loaded (a hash mismatch, the package missing) the answer is ``503`` with the
reason: the lab says so instead of comparing the fallback with itself.
"""

from __future__ import annotations

import tempfile
import threading
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..embedder import Embedder, HashEmbedder
from ..embedder_compare import Comparison, model_embedder, sample_queries
from ..samples import TOPICS
from .models import ErrorOut
from .students import get_viewer

router = APIRouter(tags=["scenarios"])

Handbook = StrEnum("Handbook", {topic.slug.replace("-", "_"): topic.slug for topic in TOPICS})  # type: ignore[misc]
"""A sample handbook, by its topic's slug."""


class EmbedderOut(BaseModel):
    name: str = Field(..., description="e.g. fastembed:all-MiniLM-L6-v2-int8 or fallback:hash-512")
    kind: Literal["fastembed", "fallback"]
    dim: int
    reason: str = Field("", description="why the fallback is in use ('' for a real model)")
    note: str = Field("", description="what it cannot do (the bundled model: English only)")


class Embedders(BaseModel):
    hashing: EmbedderOut
    model: EmbedderOut


class RankOut(BaseModel):
    rank: int | None = Field(..., description="where the right handbook comes (1 = first); null without one, or no match")
    top: str | None = Field(..., description="the handbook that comes first (a topic slug); null if nothing matches")
    score: float | None = Field(..., description="the top handbook's best chunk's cosine similarity")


class CompareRow(BaseModel):
    kind: str = Field(..., description="keywords, paraphrase or chinese for a sample query; '' for yours")
    query: str
    handbook: str | None = Field(..., description="the handbook that should come first (a topic slug)")
    hashing: RankOut
    model: RankOut


class HandbookOut(BaseModel):
    slug: str
    title: str


class CompareOut(BaseModel):
    status: Literal["ready"]
    embedders: Embedders
    handbooks: list[HandbookOut] = Field(..., description="the indexed handbooks, one per topic")
    rows: list[CompareRow]


class Indexing(BaseModel):
    status: Literal["indexing"]
    done: int = Field(..., description="handbooks indexed so far, counted once per embedder")
    total: int
    detail: str


class ComparisonBuild:
    """This process's comparison index: built once, in a thread, on the first call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._embedders: dict[str, Embedder] = {}
        self._thread: threading.Thread | None = None
        self._error: Exception | None = None
        self.ready: Comparison | None = None
        self.done, self.total = 0, 2 * len(TOPICS)

    def get(self) -> Comparison | None:
        """The built comparison, or None while it is being built (started here if need be)."""
        with self._lock:
            if self.ready is not None:
                return self.ready
            if self._error is not None:  # said once, then the next call tries again
                error, self._error = self._error, None
                raise error
            if self._thread is None:
                # loaded here, so that a model that cannot be loaded is the answer at once (503)
                self._embedders = {"hashing": HashEmbedder(), "model": model_embedder()}
                self._folder = tempfile.TemporaryDirectory(prefix="lab-compare-")
                self._thread = threading.Thread(target=self._build, name="lab-compare-index", daemon=True)
                self._thread.start()
            return None

    def _build(self) -> None:
        try:
            assert self._folder is not None
            comparison = Comparison(self._embedders, Path(self._folder.name)).build(progress=self._progress)
            with self._lock:
                self.ready = comparison
        except Exception as exc:
            with self._lock:
                self._error, self._thread, self.done = exc, None, 0

    def _progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def embedders(self) -> dict[str, Any]:
        return {label: embedder.describe() for label, embedder in self._embedders.items()}


BUILD = ComparisonBuild()


@router.get(
    "/search/compare",
    summary="Scenario 1: the same queries through the hashing embedder and the real model, side by side",
    response_model=CompareOut,
    dependencies=[Depends(get_viewer)],
    responses={
        202: {"model": Indexing, "description": "the handbooks are being indexed (the first call starts it): poll again"},
        503: {"model": ErrorOut, "description": "the real model cannot be loaded (the reason: a hash mismatch, ...)"},
    },
)
def compare(
    q: str | None = Query(None, min_length=1, max_length=500, description="your query (default: the sample queries)"),
    handbook: Handbook | None = Query(
        None, description="with q: the handbook that should come first; without: only the sample queries for it"
    ),
) -> Any:
    comparison = BUILD.get()
    if comparison is None:
        body = Indexing(
            status="indexing",
            done=BUILD.done,
            total=BUILD.total,
            detail=f"indexing the {len(TOPICS)} sample handbooks with both embedders: poll again",
        )
        return JSONResponse(body.model_dump(), status_code=202, headers={"Retry-After": "1"})
    slug = handbook.value if handbook else None
    if q is not None:
        rows = [comparison.answer(q, slug)]
    else:
        rows = comparison.answers([s for s in sample_queries() if slug in (None, s.handbook)])
    return {
        "status": "ready",
        "embedders": BUILD.embedders(),
        "handbooks": [{"slug": t.slug, "title": t.title} for t in TOPICS],
        "rows": rows,
    }
