"""``GET /search/compare``: the same queries through the hashing embedder and the real model, side by side.

In-process (TestClient, no broker needed): the first call starts indexing the
sample handbooks and answers 202 with its progress; once built, the answer
ranks each query's right handbook under both embedders, the model finds the
paraphrases that hashing misses, and every answer fits the OpenAPI document.
A corrupted model is a 503 that says "hash mismatch", not a fallback compared
with itself.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

from labs import bundled_model
from labs import embedder as emb
from labs.api import compare, create_app
from labs.samples import PARAPHRASES, QUERIES_ZH, TOPICS

with warnings.catch_warnings():  # Starlette suggests httpx2 for its TestClient; the lab pins httpx
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app in-process with a comparison not built yet (the tests' LAB_EMBEDDER is the fallback)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(compare, "BUILD", compare.ComparisonBuild())
    emb.reset_embedder()
    with TestClient(create_app()) as test_client:
        yield test_client
    emb.reset_embedder()


def validate(client: TestClient, status: int, body: Any) -> None:
    """``body`` fits what /openapi.json says GET /search/compare answers with ``status``."""
    document = client.get("/openapi.json").json()
    schema = document["paths"]["/search/compare"]["get"]["responses"][str(status)]["content"]["application/json"]["schema"]
    jsonschema_rs.validator_for({**schema, "components": document["components"]}).validate(body)


def ready(client: TestClient, timeout: float = 120, **params: str) -> dict[str, Any]:
    """Poll until the comparison is built (202 meanwhile, with its progress), then its 200 answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get("/search/compare", params=params)
        if answer.status_code == 200:
            return answer.json()
        assert answer.status_code == 202, answer.text
        assert answer.headers["retry-after"] == "1"
        body = answer.json()
        validate(client, 202, body)
        assert body["status"] == "indexing" and 0 <= body["done"] <= body["total"] == 2 * len(TOPICS)
        assert time.monotonic() < deadline, f"still indexing after {timeout} s: {body}"
        time.sleep(0.2)


def test_the_model_finds_the_paraphrases_the_hashing_embedder_misses(client: TestClient, capsys) -> None:
    first = client.get("/search/compare")
    assert first.status_code == 202  # the model takes seconds to index the handbooks: the call does not wait
    body = ready(client)
    validate(client, 200, body)
    assert body["embedders"]["hashing"]["name"] == "fallback:hash-512"
    model = body["embedders"]["model"]
    assert (model["name"], model["kind"], model["reason"]) == ("fastembed:all-MiniLM-L6-v2-int8", "fastembed", "")
    assert "English only" in model["note"]
    assert [h["slug"] for h in body["handbooks"]] == [t.slug for t in TOPICS]
    rows = body["rows"]
    assert [r["kind"] for r in rows] == ["keywords"] * 2 + ["paraphrase"] * len(PARAPHRASES) + ["chinese"] * len(QUERIES_ZH)
    assert [(r["query"], r["handbook"]) for r in rows if r["kind"] == "paraphrase"] == list(PARAPHRASES)
    assert all(r[e]["rank"] == 1 for r in rows if r["kind"] == "keywords" for e in ("hashing", "model"))
    paraphrases = [r for r in rows if r["kind"] == "paraphrase"]
    with capsys.disabled():
        print("\nparaphrases, rank of the right handbook:", [(r["hashing"]["rank"], r["model"]["rank"]) for r in paraphrases])
    assert sum(r["model"]["rank"] == 1 for r in paraphrases) >= 4
    assert all(r["model"]["top"] == r["handbook"] for r in paraphrases if r["model"]["rank"] == 1)
    # one query of your own: the rank of the handbook you name, and what each embedder puts first
    own = client.get("/search/compare", params={"q": "my parcel came while I was away", "handbook": "redelivery-policy"})
    assert own.status_code == 200
    validate(client, 200, own.json())
    [row] = own.json()["rows"]
    assert row["kind"] == "" and row["handbook"] == "redelivery-policy" and row["model"]["rank"] == 1
    [nothing] = client.get("/search/compare", params={"q": "!!!"}).json()["rows"]  # no word for the hashing embedder
    assert nothing["hashing"] == {"rank": None, "top": None, "score": None} and nothing["model"]["rank"] is None
    # a handbook alone: the sample queries whose right handbook it is
    volcanoes = client.get("/search/compare", params={"handbook": "volcanoes"}).json()["rows"]
    assert [r["kind"] for r in volcanoes] == ["paraphrase", "chinese"] and {r["handbook"] for r in volcanoes} == {"volcanoes"}
    assert client.get("/search/compare", params={"handbook": "astronomy"}).json()["rows"] == []
    # bad input: a clear 422
    answer = client.get("/search/compare", params={"q": "x", "handbook": "no-such-book"})
    assert answer.status_code == 422 and "handbook" in answer.json()["detail"]
    assert client.get("/search/compare", params={"q": ""}).status_code == 422


def test_a_corrupted_model_is_a_503_that_says_why(client: TestClient, lab_env) -> None:
    folder = bundled_model.model_folder()
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "model.onnx").write_bytes(bytes(data))
    answer = client.get("/search/compare")
    assert answer.status_code == 503
    validate(client, 503, answer.json())
    assert "hash mismatch" in answer.json()["detail"] and "no real model to compare" in answer.json()["detail"]
