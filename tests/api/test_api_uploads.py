"""PDF upload: stored under a safe name, processed by real workers; wrong type, size and names refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from api_helpers import LiveServer, wait_state
from fastapi import HTTPException
from fastapi.testclient import TestClient

from labs.api.uploads import MULTIPART_SLACK, limited
from labs.document_folders import documents_dir
from labs.samples import make_sample_pdfs
from labs.session import LabSession

embedded_only = pytest.mark.parametrize("broker", ["embedded"], indirect=True)


@embedded_only
def test_upload_then_process_on_a_worker(lab: LabSession, client: TestClient, tmp_path: Path) -> None:
    pdfs = make_sample_pdfs(tmp_path / "corpus", 2)
    files = [("files", (path.name, path.read_bytes(), "application/pdf")) for path in pdfs]
    response = client.post("/documents?process=true", files=files)
    assert response.status_code == 201, response.text
    body = response.json()
    assert [d["name"] for d in body["documents"]] == [p.name for p in pdfs]
    assert [d["size"] for d in body["documents"]] == [p.stat().st_size for p in pdfs]
    for doc, path in zip(body["documents"], pdfs, strict=True):
        stored = documents_dir() / doc["id"]
        assert doc["id"].endswith(path.name) and stored.read_bytes() == path.read_bytes()
    for job in body["jobs"]:
        view = wait_state(client, job["id"], {"completed", "failed"})
        assert view["state"] == "completed" and view["task"] == "process_document", view
        assert view["result"]["chunks"] > 0
    listed = {d["id"] for d in client.get("/documents").json()["documents"]}
    assert listed == {d["id"] for d in body["documents"]}


@embedded_only
def test_uploads_that_are_refused(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    pdf = b"%PDF-1.4\n" + b"x" * 2000 + b"\n%%EOF\n"

    def stored() -> list[str]:
        return sorted(p.name for p in documents_dir().iterdir())

    not_pdf = client.post("/documents", files=[("files", ("ok.pdf", pdf)), ("files", ("notes.pdf", b"hello, I am text"))])
    assert not_pdf.status_code == 415 and "notes.pdf is not a PDF" in not_pdf.json()["detail"]
    assert stored() == []  # all or nothing: the good file was not kept either

    empty = client.post("/documents", files=[("files", ("empty.pdf", b""))])
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    assert client.post("/documents").status_code == 422  # no file at all

    sneaky = client.post("/documents", files=[("files", ("../../../etc/passwd.pdf", pdf)), ("files", ("..\\..\\x y?.PDF", pdf))])
    assert sneaky.status_code == 201
    names = [d["name"] for d in sneaky.json()["documents"]]
    assert names == ["passwd.pdf", "x_y.pdf"]
    assert all((documents_dir() / d["id"]).parent == documents_dir() for d in sneaky.json()["documents"])
    assert len(stored()) == 2

    monkeypatch.setenv("LAB_MAX_UPLOAD_MB", "0.1")  # 100 KiB
    big = pdf + b"0" * 300_000
    too_big = client.post("/documents", files=[("files", ("big.pdf", big))])  # Content-Length says it all
    assert too_big.status_code == 413 and "limit is 0.1 MB (LAB_MAX_UPLOAD_MB)" in too_big.json()["detail"]

    def chunked():  # no Content-Length: counted while it arrives
        yield b"--b\r\nContent-Disposition: form-data; name=files; filename=big.pdf\r\n\r\n"
        for _ in range(30):
            yield pdf + b"0" * 20_000
        yield b"\r\n--b--\r\n"

    streamed = client.post("/documents", content=chunked(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert streamed.status_code == 413 and "upload too large" in streamed.json()["detail"]
    assert len(stored()) == 2


@embedded_only
def test_a_huge_upload_to_a_real_server_is_refused(live_api: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_MAX_UPLOAD_MB", "0.1")

    def body():  # 20 MB offered without a Content-Length
        yield b"--b\r\nContent-Disposition: form-data; name=files; filename=huge.pdf\r\n\r\n%PDF-1.4\n"
        for _ in range(200):
            yield b"0" * 100_000

    headers = {"content-type": "multipart/form-data; boundary=b"}
    response = httpx.post(f"{live_api.url}/documents", content=body(), headers=headers, timeout=30)
    assert response.status_code == 413 and "upload too large" in response.json()["detail"]
    assert list(documents_dir().iterdir()) == []


def test_the_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    """The app stops reading at the limit (a server may still drain the socket; nothing is parsed or stored)."""
    pulled = 0

    async def receive() -> dict:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"0" * 10_000, "more_body": True}

    async def read_all() -> None:
        guarded = limited(receive, 100_000)
        while True:
            await guarded()

    with pytest.raises(HTTPException) as refused:
        asyncio.run(read_all())
    assert refused.value.status_code == 413
    assert pulled == (100_000 + MULTIPART_SLACK) // 10_000 + 1  # the first chunk past the limit, no more
