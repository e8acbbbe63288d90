"""PDFs: the sample corpus, reading (and refusing) files, chunking, the index."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fpdf import FPDF

from labs.embedder import HashEmbedder
from labs.errors import PermanentError
from labs.indexing import DocumentError, DocumentIndex, chunk_pages, extract_pages, index_pdf
from labs.samples import BROKEN_KINDS, TOPICS, make_sample_pdfs, topic_of

REPO = Path(__file__).resolve().parent.parent
GOOD = 5


@pytest.fixture(scope="module", autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory):
    """Anything written to the default state folder lands in a temporary one."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAB_STATE_DIR", str(tmp_path_factory.mktemp("state")))
        yield


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """5 topic PDFs, then one broken file of each kind."""
    return make_sample_pdfs(tmp_path_factory.mktemp("corpus"), GOOD, broken=len(BROKEN_KINDS))


@pytest.fixture(scope="module")
def index(corpus: list[Path], tmp_path_factory: pytest.TempPathFactory) -> DocumentIndex:
    index = DocumentIndex(tmp_path_factory.mktemp("index") / "index.sqlite3")
    for path in corpus[:GOOD]:
        index_pdf(path, index=index, embedder=HashEmbedder())
    return index


def test_sample_names_and_determinism(corpus, tmp_path):
    names = [p.name for p in corpus]
    assert names[:2] == ["doc-001-parcel-logistics.pdf", "doc-002-redelivery-policy.pdf"]
    assert names[GOOD:] == [f"broken-{i:03d}.pdf" for i in range(1, len(BROKEN_KINDS) + 1)]
    again = make_sample_pdfs(tmp_path, GOOD, broken=len(BROKEN_KINDS))
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in corpus]
    shifted = make_sample_pdfs(tmp_path / "seed7", 1, seed=7)
    assert shifted[0].name == f"doc-001-{TOPICS[7].slug}.pdf"


def test_extract_pages_of_good_pdfs(corpus):
    for path in corpus[:GOOD]:
        topic = topic_of(path)
        pages = extract_pages(path)
        assert 2 <= len(pages) <= 4, path.name
        assert topic.title in pages[0]
        assert all(page.strip() for page in pages)
        assert topic.query.split()[0].lower() in " ".join(pages).lower()


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (1, "corrupt PDF: .*truncated"),
        (2, r"not a PDF \(file starts with b'hello"),
        (3, r"empty file \(0 bytes\)"),
        (4, "corrupt PDF: "),
        (5, "PDF has no extractable text"),
    ],
)
def test_broken_files_raise_a_readable_permanent_error(corpus, number, message):
    path = next(p for p in corpus if p.name == f"broken-{number:03d}.pdf")
    with pytest.raises(DocumentError, match=message) as caught:
        extract_pages(path)
    assert isinstance(caught.value, PermanentError)  # the job must not be retried
    assert "\n" not in str(caught.value)


def test_text_file_missing_file_and_encrypted_pdf(tmp_path):
    notes = tmp_path / "notes.pdf"
    notes.write_text("meeting notes, not a PDF at all")
    with pytest.raises(DocumentError, match=r"not a PDF \(file starts with b'meeting"):
        extract_pages(notes)
    with pytest.raises(DocumentError, match="file not found: missing.pdf"):
        extract_pages(tmp_path / "missing.pdf")

    pdf = FPDF()
    pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 10, "top secret")
    locked = tmp_path / "locked.pdf"
    pdf.output(str(locked))
    with pytest.raises(DocumentError, match="encrypted PDF"):
        extract_pages(locked)


def test_chunk_pages_windows_overlap_and_page_numbers():
    words = [f"word{i:03d}" for i in range(300)]  # 7 characters each
    chunks = chunk_pages([" ".join(words), "", "last page"], "a.pdf", size=200, overlap=40)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert {c.page for c in chunks} == {1, 3}  # 1-based; the empty page gives nothing
    assert chunks[-1].text == "last page"
    page_one = [c.text for c in chunks if c.page == 1]
    assert all(len(text) <= 200 for text in page_one)
    assert all(set(text.split()) <= set(words) for text in page_one)  # cut between words
    for before, after in itertools.pairwise(page_one):
        assert before.split()[-1] in after.split()[:6]  # consecutive windows overlap
    assert " ".join(page_one).split()[-1] == words[-1]
    with pytest.raises(ValueError, match="overlap"):
        chunk_pages(["text"], "a.pdf", size=100, overlap=100)


def test_index_pdf_reports_progress_and_summary(corpus, tmp_path):
    calls = []
    summary = index_pdf(
        corpus[0],
        index=DocumentIndex(tmp_path / "one.sqlite3"),
        embedder=HashEmbedder(),
        progress=lambda done, total, message: calls.append((done, total, message)),
    )
    assert summary["source"] == corpus[0].name
    assert summary["pages"] == len(extract_pages(corpus[0]))
    assert summary["chunks"] >= summary["pages"]
    assert (summary["embedder"], summary["embedder_kind"]) == ("fallback:hash-512", "fallback")
    assert [(done, total) for done, total, _ in calls] == [(i, 4) for i in range(5)]


def test_search_finds_the_topic_file_first(corpus, index):
    assert index.sources() == sorted(p.name for p in corpus[:GOOD])
    embedder = HashEmbedder()
    for path in corpus[:GOOD]:
        query = embedder.embed([topic_of(path).query])[0]
        results = index.search(query, k=3, embedder_name=embedder.name)
        assert results[0]["source"] == path.name, results
        assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
        for result in results:
            assert set(result) == {"source", "page", "text", "score", "embedder"}
            assert result["embedder"] == embedder.name
            assert 1 <= result["page"] <= 4
    assert index.search(query, embedder_name="fastembed:other-model") == []


def test_reindexing_replaces_and_clear_empties(corpus, tmp_path):
    index = DocumentIndex(tmp_path / "again.sqlite3")
    index_pdf(corpus[1], index=index, embedder=HashEmbedder())
    count = len(index)
    index_pdf(corpus[1], index=index, embedder=HashEmbedder())  # a retried job
    assert len(index) == count > 0
    index.clear()
    assert (len(index), index.sources()) == (0, [])


WRITER = """
import sys
from labs.indexing import Chunk, DocumentIndex
index = DocumentIndex(sys.argv[1], timeout=30)
for i in range(20):
    source = f"{sys.argv[2]}-{i}.pdf"
    index.add([Chunk(source, 1, 0, "text"), Chunk(source, 2, 1, "more")], [[1.0, 0.0]] * 2, "e")
"""


def test_several_processes_can_write_at_once(tmp_path):
    db = tmp_path / "shared.sqlite3"
    DocumentIndex(db)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), f"w{n}"], env=env, cwd=REPO) for n in range(4)]
    assert [w.wait(timeout=60) for w in writers] == [0] * 4
    index = DocumentIndex(db)
    assert len(index) == 4 * 20 * 2
    assert len(index.sources()) == 4 * 20
