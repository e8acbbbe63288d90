"""PDFs in, searchable chunks out: the work of the "index a PDF" job.

:func:`index_pdf` runs the whole pipeline: read the text of each page, cut it
into overlapping chunks (plus one for the PDF's Subject, its summary: the
sample handbooks carry a Chinese one there), embed them, store them in a :class:`DocumentIndex`
(one SQLite file that several workers can write to at once).

A file that can never be read (not a PDF, corrupt, encrypted, no text) raises
:class:`DocumentError`, a :class:`~labs.errors.PermanentError`: retrying
would fail the same way, so the job goes straight to the dead-letter queue.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .embedder import Embedder, get_embedder
from .errors import PermanentError
from .settings import state_dir

Progress = Callable[[int, int, str], Any]  # progress(done, total, message)


class DocumentError(PermanentError):
    """A document that cannot be read, with the reason in one line."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200] or "no details"
    return f"{text} ({type(exc).__name__})"


def extract_pages(path: str | Path) -> list[str]:
    """The text of each page of a PDF (``DocumentError`` if it cannot be read)."""
    return read_pdf(path)[0]


def read_pdf(path: str | Path) -> tuple[list[str], str]:
    """The text of each page of a PDF and its Subject ("" if none); ``DocumentError`` if it cannot be read."""
    from pypdf import PdfReader  # imported here: only workers that read PDFs need it

    path = Path(path)
    if not path.is_file():
        raise DocumentError(f"file not found: {path.name}")
    data = path.read_bytes()
    if not data:
        raise DocumentError("empty file (0 bytes)")
    if b"%PDF-" not in data[:1024]:  # where PDF readers look for the header
        raise DocumentError(f"not a PDF (file starts with {data[:16]!r})")
    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise DocumentError("encrypted PDF: password-protected files are not supported")
        pages = [page.extract_text() or "" for page in reader.pages]
        subject = (reader.metadata.subject if reader.metadata else None) or ""
    except DocumentError:
        raise
    except Exception as exc:  # pypdf raises many kinds: all mean "corrupt"
        hint = "" if b"%%EOF" in data[-1024:] else ", no %%EOF marker: truncated?"
        raise DocumentError(f"corrupt PDF: {_one_line(exc)}{hint}") from exc
    if not any(page.strip() for page in pages):
        raise DocumentError(f"PDF has no extractable text (a scan? pages: {len(pages)})")
    return pages, " ".join(str(subject).split())


@dataclass
class Chunk:
    source: str  # file name
    page: int  # 1-based
    index: int  # position in the document, 0-based
    text: str


def chunk_pages(pages: list[str], source: str, size: int = 800, overlap: int = 100) -> list[Chunk]:
    """Cut each page into windows of at most ``size`` characters.

    Consecutive windows of a page share about ``overlap`` characters, so a
    sentence cut at a boundary is still whole in one of them. Cuts fall on
    whitespace when there is some in the second half of the window.
    """
    if not 0 <= overlap < size:
        raise ValueError(f"need 0 <= overlap < size, got overlap={overlap}, size={size}")
    chunks: list[Chunk] = []
    for page_number, page_text in enumerate(pages, start=1):
        text = " ".join(page_text.split())  # one space between words
        start = 0
        while start < len(text):
            end = min(start + size, len(text))
            if end < len(text):
                space = text.rfind(" ", start + size // 2, end + 1)
                end = space if space > start else end
            piece = text[start:end].strip()
            if piece:
                chunks.append(Chunk(source, page_number, len(chunks), piece))
            if end >= len(text):
                break
            # step back by the overlap, then forward to the start of a word
            start = max(end - overlap, start + 1)
            space = text.find(" ", start, end)
            start = space + 1 if space != -1 and text[start - 1] != " " else start
    return chunks


SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    id       INTEGER PRIMARY KEY,
    source   TEXT NOT NULL,     -- file name
    page     INTEGER NOT NULL,  -- 1-based
    chunk    INTEGER NOT NULL,  -- position in the document
    text     TEXT NOT NULL,
    embedder TEXT NOT NULL,     -- which model made the vector
    vector   TEXT NOT NULL,     -- JSON list of floats
    added_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_source ON chunks (source, embedder);
"""


class DocumentIndex:
    """Chunks and their vectors in one SQLite file, searched by cosine similarity.

    Every method opens its own short connection, so one index object can be
    used from any thread, and several worker processes can add at once: WAL
    mode lets readers carry on while one writer commits, and the timeout makes
    a writer wait for another instead of failing with "database is locked".
    """

    def __init__(self, path: str | Path | None = None, timeout: float = 30.0) -> None:
        self.path = Path(path) if path else state_dir() / "index.sqlite3"
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")  # stored in the file: set once
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection whose work is one transaction: committed, or rolled back on error."""
        db = sqlite3.connect(self.path, timeout=self.timeout)
        try:
            with db:
                yield db
        finally:
            db.close()

    def add(self, chunks: list[Chunk], vectors: list[list[float]], embedder_name: str) -> int:
        """Store chunks with their vectors; returns how many were stored.

        The chunks of a source already indexed with the same embedder are
        replaced, so indexing a file twice (a retried job) does not duplicate it.
        """
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        now = time.time()
        rows = [
            (c.source, c.page, c.index, c.text, embedder_name, json.dumps(v), now) for c, v in zip(chunks, vectors, strict=True)
        ]
        with self._connect() as db:
            for source in sorted({c.source for c in chunks}):
                db.execute("DELETE FROM chunks WHERE source = ? AND embedder = ?", (source, embedder_name))
            db.executemany(
                "INSERT INTO chunks (source, page, chunk, text, embedder, vector, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def search(self, query_vector: list[float], k: int = 3, embedder_name: str | None = None) -> list[dict[str, Any]]:
        """The ``k`` chunks most similar to ``query_vector``, best first.

        Only vectors of the same size can be compared; pass ``embedder_name``
        to compare only with vectors made by the model that made the query.
        """
        sql = "SELECT source, page, text, embedder, vector FROM chunks"
        params: tuple[str, ...] = ()
        if embedder_name is not None:
            sql, params = sql + " WHERE embedder = ?", (embedder_name,)
        with self._connect() as db:
            rows = db.execute(sql, params).fetchall()
        query = np.asarray(query_vector, dtype=float)
        candidates = [(row, json.loads(row[4])) for row in rows]
        candidates = [(row, v) for row, v in candidates if len(v) == len(query)]
        if not candidates or not query.any():
            return []
        matrix = np.array([v for _, v in candidates], dtype=float)
        norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)
        scores = matrix @ query / np.where(norms > 0, norms, 1.0)
        results = []
        for i in np.argsort(-scores, kind="stable")[:k]:
            source, page, text, embedder, _ = candidates[i][0]
            score = round(float(scores[i]), 4)
            results.append({"source": source, "page": page, "text": text, "score": score, "embedder": embedder})
        return results

    def sources(self) -> list[str]:
        """The file names in the index, sorted."""
        with self._connect() as db:
            return [row[0] for row in db.execute("SELECT DISTINCT source FROM chunks ORDER BY 1")]

    def __len__(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def clear(self) -> None:
        """Remove every chunk."""
        with self._connect() as db:
            db.execute("DELETE FROM chunks")


def index_pdf(
    path: str | Path,
    index: DocumentIndex | None = None,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Read, chunk, embed and store one PDF; returns a summary of what was done.

    ``progress(done, total, message)`` is called at the start of each stage
    and once at the end (a job can report it, or raise there to cancel).
    """
    path = Path(path)

    def report(done: int, message: str) -> None:
        if progress is not None:
            progress(done, 4, message)

    report(0, f"reading {path.name}")
    pages, subject = read_pdf(path)
    report(1, f"cutting {len(pages)} pages into chunks")
    chunks = chunk_pages(pages, source=path.name)
    if subject:  # the document's own summary: found by a search in its words (page 1: where it belongs)
        chunks.append(Chunk(path.name, 1, len(chunks), subject))
    embedder = embedder if embedder is not None else get_embedder()
    report(2, f"embedding {len(chunks)} chunks with {embedder.name}")
    vectors = embedder.embed([chunk.text for chunk in chunks])
    report(3, f"storing {len(chunks)} chunks")
    index = index if index is not None else DocumentIndex()  # an empty index is falsy
    index.add(chunks, vectors, embedder.name)
    report(4, f"indexed {path.name}")
    return {
        "source": path.name,
        "pages": len(pages),
        "chunks": len(chunks),
        "embedder": embedder.name,
        "embedder_kind": embedder.kind,
    }


def search(query: str, k: int = 3, index: DocumentIndex | None = None) -> list[dict[str, Any]]:
    """The ``k`` best chunks for ``query``: source file, page, text, score and embedder."""
    embedder = get_embedder()
    index = index if index is not None else DocumentIndex()
    return index.search(embedder.embed([query])[0], k=k, embedder_name=embedder.name)
