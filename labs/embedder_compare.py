"""Why a real embedding model: the same queries through the hashing fallback and the model, side by side.

The hashing embedder finds a handbook only through the words it shares with the
query, and students do not ask in the handbook's words. So one handbook per
topic (:mod:`labs.samples`) is indexed with each embedder through the jobs' own
pipeline (:func:`labs.indexing.index_pdf`), and each query is answered with the
rank of its right handbook under each embedder (1 = first, a handbook ranked by
its best chunk). Lesson 11 draws the table, the playground's panel 8 asks
``GET /search/compare``, and ``tests/test_embedder.py`` holds the model to the
paraphrases: one logic for the three.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .embedder import Embedder, EmbedderUnavailable, FastEmbedder, get_embedder
from .indexing import DocumentIndex, index_pdf
from .samples import PARAPHRASES, QUERIES_ZH, TOPICS, make_sample_pdfs, topic_of

KINDS = ("keywords", "paraphrase", "chinese")


@dataclass(frozen=True)
class SampleQuery:
    kind: str  # one of KINDS
    query: str
    handbook: str  # the slug of the topic whose handbook should come first


def sample_queries() -> list[SampleQuery]:
    """Two keyword queries, the paraphrases (no content word shared with their handbook), the Chinese queries."""
    keywords = [SampleQuery("keywords", t.query, t.slug) for t in TOPICS[:2]]
    paraphrases = [SampleQuery("paraphrase", q, slug) for q, slug in PARAPHRASES]
    return keywords + paraphrases + [SampleQuery("chinese", q, slug) for q, slug in QUERIES_ZH]


def handbook_order(index: DocumentIndex, embedder: Embedder, query: str) -> list[tuple[str, float]]:
    """The handbooks for ``query`` by their best chunk, best first: ``(topic slug, score)``."""
    hits = index.search(embedder.embed([query])[0], k=len(index), embedder_name=embedder.name)
    best: dict[str, float] = {}
    for hit in hits:  # best first, so a handbook's first hit is its best chunk
        topic = topic_of(hit["source"])
        if topic is not None:
            best.setdefault(topic.slug, hit["score"])
    return list(best.items())


def rank(index: DocumentIndex, embedder: Embedder, query: str, slug: str) -> int | None:
    """Where the topic's handbook comes for ``query`` (1 = first); None if nothing matches at all."""
    return _place(handbook_order(index, embedder, query), slug)


def _place(order: list[tuple[str, float]], slug: str | None) -> int | None:
    slugs = [found for found, _ in order]
    return slugs.index(slug) + 1 if slug in slugs else None


def model_embedder() -> Embedder:
    """The real model to compare with: this process's embedder if it is one, else the lab's bundled model.

    The comparison needs the model whatever ``LAB_EMBEDDER`` chose for search;
    when it cannot be loaded (a hash mismatch, the package missing) the reason is
    raised, as :class:`EmbedderUnavailable`, for the page to show.
    """
    current = get_embedder()
    if current.kind == "fastembed":
        return current
    try:
        return FastEmbedder()
    except Exception as exc:
        raise EmbedderUnavailable(f"no real model to compare the hashing embedder with: {exc}") from exc


Progress = Callable[[int, int], Any]  # progress(done, total): handbooks indexed, counted once per embedder


class Comparison:
    """One handbook per topic, indexed by each embedder into one index; then ask it queries.

    ``embedders`` maps a label (a table's column, an answer's key) to an
    embedder, e.g. ``{"hashing": HashEmbedder(), "model": FastEmbedder()}``.
    """

    def __init__(self, embedders: Mapping[str, Embedder], folder: str | Path) -> None:
        self.embedders = dict(embedders)
        self.folder = Path(folder)
        self.index = DocumentIndex(self.folder / "index.sqlite3")

    def build(self, progress: Progress | None = None) -> Comparison:
        """(Re)index the handbooks with every embedder: the model takes some seconds (about 70 chunks)."""
        handbooks = make_sample_pdfs(self.folder / "handbooks", len(TOPICS), keep=True)
        total, done = len(handbooks) * len(self.embedders), 0
        self.index.clear()
        for embedder in self.embedders.values():
            for path in handbooks:
                index_pdf(path, index=self.index, embedder=embedder)
                done += 1
                if progress is not None:
                    progress(done, total)
        return self

    def answer(self, query: str, handbook: str | None = None, kind: str = "") -> dict[str, Any]:
        """``query`` under each embedder: the right ``handbook``'s rank (if given), the top handbook and its score."""
        by: dict[str, dict[str, Any]] = {}
        for label, embedder in self.embedders.items():
            order = handbook_order(self.index, embedder, query)
            top, score = order[0] if order else (None, None)
            by[label] = {"rank": _place(order, handbook), "top": top, "score": score}
        return {"kind": kind, "query": query, "handbook": handbook, **by}

    def answers(self, queries: list[SampleQuery] | None = None) -> list[dict[str, Any]]:
        """:meth:`answer` for each query (by default :func:`sample_queries`)."""
        return [self.answer(q.query, q.handbook, q.kind) for q in (sample_queries() if queries is None else queries)]

    def rank_table(self, queries: list[SampleQuery] | None = None) -> list[dict[str, Any]]:
        """One flat row per query: kind, query, handbook, then the rank under each embedder (by label)."""
        rows = self.answers(queries)
        return [{k: row[k] for k in ("kind", "query", "handbook")} | {e: row[e]["rank"] for e in self.embedders} for row in rows]
