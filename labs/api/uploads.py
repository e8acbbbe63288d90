"""Uploading PDFs (the seed's scenario 1: 前端上传文件 -> FastAPI接收并保存 -> 提交任务).

``POST /documents`` (multipart, one or more ``files`` fields) stores each PDF
under ``labs.document_folders.documents_dir()`` and answers
``201 {"documents": [{"id", "name", "size"}], "jobs": [...]}``. The ``id`` is
the stored file name, which is what ``process_document`` takes as
``document`` (``process_documents`` takes a list of them); with
``?process=true`` a ``process_document`` job is submitted for each file.

Safety, checked before anything is written:

- size: the whole request may carry at most ``LAB_MAX_UPLOAD_MB`` (default
  20) megabytes. A ``Content-Length`` over it is refused (``413``) before the
  body is read; a body without one is counted as it arrives and refused the
  moment it passes the limit.
- content: every file must start like a PDF (``%PDF-``), else ``415``; the
  whole upload is refused, nothing is kept.
- names: the client's file name is only a label. The file is stored as
  ``<random id>-<sanitised name>.pdf``, letters, digits, ``.``, ``_`` and
  ``-`` only, so ``../../etc/passwd`` cannot leave the documents folder.
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, Response, UploadFile
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.types import Message, Receive

from .. import admission, jobs
from ..document_folders import documents_dir
from ..settings import settings
from .admission import Gate, get_gate
from .connections import Broker, get_broker
from .models import DocumentList, ErrorOut, Uploaded
from .rest import submitted

MAX_FILES = 100
MULTIPART_SLACK = 64 * 1024
"""Room for the multipart boundaries and headers on top of the files themselves."""
PDF_MAGIC = b"%PDF-"
CHUNK = 1024 * 1024


def max_upload_bytes() -> int:
    """``LAB_MAX_UPLOAD_MB`` (default 20) in bytes."""
    return max(1, int(settings().max_upload_mb * 1024 * 1024))


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"upload too large: the limit is {limit / 1024 / 1024:.3g} MB (LAB_MAX_UPLOAD_MB)")


def limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises 413 as soon as more than ``limit`` body bytes have arrived."""
    seen = 0

    async def receive_limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit + MULTIPART_SLACK:
                raise too_large(limit)
        return message

    return receive_limited


class UploadRoute(APIRoute):
    """A route that refuses an oversized body before or while it is read (not after)."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def limited_handler(request: Request) -> Response:
            limit = max_upload_bytes()
            length = request.headers.get("content-length", "")
            if length.isdigit() and int(length) > limit + MULTIPART_SLACK:
                raise too_large(limit)
            return await handler(Request(request.scope, limited(request.receive, limit)))

        return limited_handler


router = APIRouter(tags=["documents"], route_class=UploadRoute)


def safe_name(filename: str | None) -> str:
    """A harmless label from a client's file name: ``../../a b?.PDF`` -> ``a_b.pdf``."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", filename or ""))[-1]
    stem = base[:-4] if base.lower().endswith(".pdf") else base
    stem = re.sub(r"[^\w.-]+", "_", stem).strip("._-")[:80]
    return f"{stem or 'document'}.pdf"


def _check_pdf(upload: UploadFile, limit: int) -> None:
    file: BinaryIO = upload.file
    file.seek(0, os.SEEK_END)
    size = file.tell()
    file.seek(0)
    head = file.read(1024)
    file.seek(0)
    if size > limit:
        raise too_large(limit)
    if size == 0:
        raise HTTPException(422, f"{safe_name(upload.filename)}: the file is empty")
    if PDF_MAGIC not in head:
        raise HTTPException(415, f"{safe_name(upload.filename)} is not a PDF (it starts with {head[:16]!r})")


def _store(uploads: list[UploadFile], limit: int) -> list[dict[str, Any]]:
    for upload in uploads:  # check every file before keeping any
        _check_pdf(upload, limit)
    folder = documents_dir().resolve()
    stored = []
    for upload in uploads:
        name = safe_name(upload.filename)
        doc_id = f"{uuid.uuid4().hex[:12]}-{name}"
        target = (folder / doc_id).resolve()
        if target.parent != folder:  # cannot happen with a sanitised name; checked anyway
            raise HTTPException(422, f"unsafe file name {upload.filename!r}")
        partial = target.with_name(f".{doc_id}.part")
        with partial.open("wb") as out:
            shutil.copyfileobj(upload.file, out, CHUNK)
        partial.replace(target)
        stored.append({"id": doc_id, "name": name, "size": target.stat().st_size})
    return stored


@router.post(
    "/documents",
    status_code=201,
    response_model=Uploaded,
    summary="Upload PDFs (optionally process them right away)",
    responses={
        413: {"model": ErrorOut, "description": "the upload is larger than LAB_MAX_UPLOAD_MB"},
        415: {"model": ErrorOut, "description": "a file that is not a PDF (it does not start with %PDF-): nothing is kept"},
    },
)
async def upload_documents(
    files: list[UploadFile] = File(
        ...,
        description="one or more PDF files",
        min_length=1,
        max_length=MAX_FILES,
        json_schema_extra={
            "items": {
                "type": "string",
                "contentMediaType": "application/octet-stream",
                "pattern": "^%PDF-",
                "description": "a PDF: its bytes start with %PDF-",
            }
        },
    ),
    process: bool = Query(False, description="submit a process_document job for each file"),
    gate: Gate = Depends(get_gate),
    broker: Broker = Depends(get_broker),
) -> dict[str, Any]:
    if len(files) > MAX_FILES:
        raise HTTPException(422, f"at most {MAX_FILES} files per upload, got {len(files)}")
    if not process:
        return {"documents": await run_in_threadpool(_store, files, max_upload_bytes()), "jobs": []}
    conn = await run_in_threadpool(broker.sync)  # 503 before saving anything
    ticket = await run_in_threadpool(admission.check, conn, gate.subject, len(files))  # and 429
    try:
        stored = await run_in_threadpool(_store, files, max_upload_bytes())
        ids = [await run_in_threadpool(jobs.submit, conn, "process_document", {"document": doc["id"]}) for doc in stored]
    except BaseException:
        ticket.release()  # one ZREM, here even when the request is cancelled: the places go back
        raise
    await run_in_threadpool(ticket.bind, ids)
    return {"documents": stored, "jobs": [submitted(conn, job_id) for job_id in ids]}


@router.get("/documents", response_model=DocumentList, summary="The stored PDFs")
def list_documents() -> dict[str, Any]:
    folder: Path = documents_dir()
    files = sorted((p for p in folder.glob("*.pdf") if p.is_file()), key=lambda p: p.stat().st_mtime, reverse=True)
    return {"documents": [{"id": p.name, "size": p.stat().st_size, "modified": p.stat().st_mtime} for p in files]}
