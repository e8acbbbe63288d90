"""Embeddings: the hashing fallback, the choice of embedder, a real ONNX model, the lab's bundled model."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tiny_onnx import TINY_DIM, build_tiny_model

from labs import bundled_model
from labs import embedder as emb
from labs.embedder import STOPWORDS, EmbedderUnavailable, FastEmbedder, HashEmbedder, cosine, get_embedder, tokenize
from labs.embedder_compare import rank
from labs.indexing import DocumentIndex, index_pdf
from labs.samples import PARAPHRASES, QUERIES_ZH, TOPICS, Topic, make_sample_pdfs

REPO = Path(__file__).resolve().parent.parent
TEXT = "The parcel was scanned at the sorting hub and sent to the depot."


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """No LAB_EMBED* settings, no network, empty model caches; a fresh embedder."""
    for name in list(os.environ):
        if name.startswith("LAB_EMBED"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("FASTEMBED_CACHE_PATH", str(tmp_path / "fastembed"))
    emb.reset_embedder()
    yield
    emb.reset_embedder()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


def test_hash_embedder_is_deterministic_across_processes():
    vector = HashEmbedder().embed([TEXT])[0]
    assert HashEmbedder().embed([TEXT])[0] == vector
    code = "import json, sys; from labs.embedder import HashEmbedder; print(json.dumps(HashEmbedder().embed([sys.argv[1]])[0]))"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code, TEXT],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout) == vector


def test_hash_vectors_are_normalised_json_floats():
    embedder = HashEmbedder(dim=64)
    vectors = embedder.embed([TEXT, "another text", ""])
    assert [len(v) for v in vectors] == [64, 64, 64]
    assert math.isclose(math.fsum(x * x for x in vectors[0]), 1.0)
    assert vectors[2] == [0.0] * 64  # nothing to embed, and no division by zero
    assert json.loads(json.dumps(vectors)) == vectors
    assert embedder.name == "fallback:hash-64" and embedder.kind == "fallback"


def test_similar_texts_score_higher_than_unrelated_ones():
    [parcel, parcels, stars] = HashEmbedder().embed(
        [
            TEXT,
            "Parcels are scanned at the sorting hub before the depot receives them.",
            "Astronomers point the telescope at a distant galaxy after sunset.",
        ]
    )
    assert cosine(parcel, parcels) > cosine(parcel, stars) + 0.2
    [rain, rain_again, telescope] = HashEmbedder().embed(["明天会下雨", "明天下雨吗", "望远镜观察星星"])
    assert cosine(rain, rain_again) > cosine(rain, telescope) + 0.2


def test_cosine():
    assert cosine([1.0, 0.0], [2.0, 0.0]) == pytest.approx(1.0)
    assert cosine([1.0, 0.0], [0.0, 3.0]) == pytest.approx(0.0)
    assert cosine([0.0, 0.0], [1.0, 0.0]) == 0.0
    with pytest.raises(ValueError, match="length"):
        cosine([1.0], [1.0, 2.0])


def test_falls_back_loudly_when_the_model_folder_is_empty(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LAB_EMBED_MODEL_PATH", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="labs.embedder"):
        embedder = get_embedder()
    assert embedder.kind == "fallback"
    assert "lacks model.onnx, tokenizer.json" in embedder.reason
    assert any(embedder.reason in r.getMessage() for r in caplog.records)
    assert len(embedder.embed([TEXT])[0]) == embedder.dim


def test_falls_back_fast_when_no_model_is_cached_offline(monkeypatch):
    monkeypatch.setenv("LAB_EMBED_MODEL", "BAAI/bge-small-en-v1.5")  # a hub model, not in the empty cache
    started = time.monotonic()
    embedder = get_embedder()
    assert time.monotonic() - started < 10  # not fastembed's ~40 s of download retries
    assert embedder.kind == "fallback"
    assert "bge-small-en-v1.5" in embedder.reason


def test_get_embedder_is_made_once_per_process(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_EMBEDDER", "fallback")
    first = get_embedder()
    assert get_embedder() is first
    emb.reset_embedder()
    assert get_embedder() is not first


def test_lab_embedder_fallback_forces_the_fallback(tiny_model, monkeypatch):
    monkeypatch.setenv("LAB_EMBED_MODEL_PATH", str(tiny_model))
    monkeypatch.setenv("LAB_EMBEDDER", "fallback")
    embedder = get_embedder()
    assert embedder.kind == "fallback"
    assert embedder.reason == "forced by LAB_EMBEDDER=fallback"


def test_lab_embedder_fastembed_raises_instead_of_falling_back(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_EMBEDDER", "fastembed")
    monkeypatch.setenv("LAB_EMBED_MODEL_PATH", str(tmp_path / "nowhere"))
    with pytest.raises(EmbedderUnavailable, match="LAB_EMBEDDER=fastembed.*not a folder"):
        get_embedder()


def _expected_tiny_vector(model_dir: Path, text: str) -> np.ndarray:
    """What the tiny model gives with mean pooling, computed without fastembed."""
    import onnxruntime
    from tokenizers import Tokenizer

    encoding = Tokenizer.from_file(str(model_dir / "tokenizer.json")).encode(text)
    ids = np.array([encoding.ids], dtype=np.int64)
    session = onnxruntime.InferenceSession(str(model_dir / "model.onnx"))
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": ids * 0}
    pooled = session.run(None, feeds)[0][0].mean(axis=0)
    return pooled / np.linalg.norm(pooled)


def test_local_onnx_model_runs_through_fastembed(tiny_model, monkeypatch):
    monkeypatch.setenv("LAB_EMBED_MODEL_PATH", str(tiny_model))
    monkeypatch.setenv("LAB_EMBED_MODEL", "lab/tiny-test-model")
    monkeypatch.setenv("LAB_EMBEDDER", "fastembed")  # a failure must not hide behind the fallback
    embedder = get_embedder()
    assert (embedder.kind, embedder.name) == ("fastembed", "fastembed:lab/tiny-test-model")
    assert (embedder.dim, embedder.reason) == (TINY_DIM, "")

    texts = ["parcel delivery to the depot", "radio broadcast transmitter", "unknown words"]
    vectors = embedder.embed(texts)
    assert embedder.embed(texts) == vectors
    assert all(len(v) == TINY_DIM and type(v[0]) is float for v in vectors)
    assert [math.fsum(x * x for x in v) for v in vectors] == pytest.approx([1.0] * 3)
    assert cosine(vectors[0], vectors[1]) < 0.99
    np.testing.assert_allclose(vectors[0], _expected_tiny_vector(tiny_model, texts[0]), atol=1e-5)

    emb.reset_embedder()  # a second load in the same process reuses the registration
    assert get_embedder().embed(texts) == vectors


def test_wrong_lab_embed_dim_is_reported(tiny_model, monkeypatch):
    monkeypatch.setenv("LAB_EMBED_MODEL_PATH", str(tiny_model))
    monkeypatch.setenv("LAB_EMBED_DIM", str(TINY_DIM * 2))
    embedder = get_embedder()
    assert embedder.kind == "fallback"
    assert f"LAB_EMBED_DIM={TINY_DIM * 2}" in embedder.reason


# --- the lab's bundled model (requirements-models.txt, installed by `make setup`) ---


def test_the_bundled_model_loads_offline_with_no_setting(lab_env):
    embedder = get_embedder()  # no LAB_EMBED* variable, HF_HUB_OFFLINE=1, empty caches
    assert (embedder.kind, embedder.name, embedder.dim, embedder.reason) == (
        "fastembed",
        "fastembed:all-MiniLM-L6-v2-int8",
        384,
        "",
    )
    folder = lab_env / "models" / "all-MiniLM-L6-v2-int8"  # assembled in the state folder at first use
    assert bundled_model.sha256(folder / "model.onnx") == bundled_model.PINNED["model.onnx"]
    assert json.loads((folder / "tokenizer_config.json").read_text())["model_max_length"] == 256
    [weather, sunny, stadium] = embedder.embed(["weather", "sunny", "stadium"])
    assert cosine(weather, sunny) > cosine(weather, stadium) + 0.2
    assert embedder.describe() == {
        "name": embedder.name,
        "kind": "fastembed",
        "dim": 384,
        "reason": "",
        "note": bundled_model.NOTE,
    }


def _content_words(text: str) -> set[str]:
    return {emb._term(t) for t in tokenize(text) if t not in STOPWORDS}


def _handbook_words(topic: Topic) -> set[str]:
    return _content_words(" ".join([topic.title, topic.query, *topic.sections, *topic.facts]))


def test_paraphrases_find_their_handbook_with_the_model_not_with_hashing(tmp_path, capsys):
    by_slug = {t.slug: t for t in TOPICS}
    for query, slug in PARAPHRASES:  # the premise: no content word in common with the handbook
        assert not _content_words(query) & _handbook_words(by_slug[slug]), query
    paths = make_sample_pdfs(tmp_path / "pdfs", len(TOPICS))  # one handbook per topic
    model, hashing = FastEmbedder(), HashEmbedder()
    index = DocumentIndex(tmp_path / "index.sqlite3")
    for path in paths:
        for embedder in (model, hashing):
            index_pdf(path, index=index, embedder=embedder)
    ranks = {e.name: [rank(index, e, q, slug) for q, slug in PARAPHRASES] for e in (hashing, model)}
    chinese = {e.name: [rank(index, e, q, slug) for q, slug in QUERIES_ZH] for e in (hashing, model)}
    with capsys.disabled():
        for name, found in ranks.items():
            print(f"\n{name}: rank of the right handbook (of {len(TOPICS)}) for {len(PARAPHRASES)} paraphrases: {found}")
            print(f"{name}: ... for {len(QUERIES_ZH)} Chinese queries: {chinese[name]}")
    assert sum(r == 1 for r in ranks[model.name]) >= 4, ranks
    # the Chinese summary (the PDF's Subject) is a chunk: the fallback finds the handbook by its characters
    assert sum(r == 1 for r in chinese[hashing.name]) >= 4, chinese
    summaries = {hit["text"] for hit in index.search(hashing.embed([QUERIES_ZH[0][0]])[0], k=3)}
    assert next(t for t in TOPICS if t.slug == QUERIES_ZH[0][1]).summary_zh in summaries


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the weights
    path.write_bytes(bytes(data))


def test_a_corrupted_model_is_refused_and_the_lab_falls_back_visibly(lab_env, monkeypatch, caplog):
    folder = bundled_model.model_folder()  # assembled, and checked
    _corrupt(folder / "model.onnx")
    with caplog.at_level(logging.WARNING, logger="labs.embedder"):
        embedder = get_embedder()
    assert embedder.kind == "fallback" and embedder.name == "fallback:hash-512"
    assert "hash mismatch" in embedder.reason and "model.onnx" in embedder.reason and "refused" in embedder.reason
    assert any("hash mismatch" in r.getMessage() for r in caplog.records)
    monkeypatch.setenv("LAB_EMBEDDER", "fastembed")  # or, when asked for: an error with the reason
    emb.reset_embedder()
    with pytest.raises(EmbedderUnavailable, match="hash mismatch"):
        get_embedder()


def test_a_swapped_model_file_is_refused(lab_env, tiny_model):
    folder = bundled_model.model_folder()
    (folder / "model.onnx").write_bytes((tiny_model / "model.onnx").read_bytes())  # a valid ONNX file, not ours
    embedder = get_embedder()
    assert embedder.kind == "fallback" and "hash mismatch" in embedder.reason
    # deleting the folder (as the reason says) copies it again from the installed package
    shutil.rmtree(folder)
    emb.reset_embedder()
    assert get_embedder().name == "fastembed:all-MiniLM-L6-v2-int8"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="a forking worker needs os.fork")
def test_a_forked_job_uses_the_model_its_worker_loaded(lab_env):
    """What a forking worker does: the model is loaded once (warm_up), each job's fork reuses it."""
    model = get_embedder()
    assert model.kind == "fastembed"
    expected = model.embed([TEXT])[0]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the job's process
        try:
            os.close(read_end)
            answer = {"same": get_embedder() is model, "vector": get_embedder().embed([TEXT])[0]}
            os.write(write_end, json.dumps(answer).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = json.loads(pipe.read())  # a hung ONNX Runtime in the child would end in pytest's timeout
    os.waitpid(pid, 0)
    assert answer["same"] and answer["vector"] == pytest.approx(expected, abs=1e-6)


def test_a_missing_model_package_is_named_with_the_fix(lab_env, monkeypatch):
    gone = ("lab-no-such-model", "1.0.0", "x/model.onnx", "model.onnx", bundled_model.PINNED["model.onnx"])
    monkeypatch.setattr(bundled_model, "FILES", (gone, *bundled_model.FILES[1:]))
    embedder = get_embedder()
    assert embedder.kind == "fallback"
    assert "not installed (lab-no-such-model==1.0.0): run `make setup`" in embedder.reason
    assert not (lab_env / "models" / bundled_model.NAME).exists()  # nothing half-made is left behind
