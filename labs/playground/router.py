"""Mount the playground on the lab's FastAPI app: the page, its code, and its three helpers.

==========================================  ==================================================
``GET  /playground/``                        the page (``static/index.html``) and its files
``GET  /playground/i18n.json``               every string the page shows, both languages (``labs/i18n``)
``GET  /playground/api/flaky``               fails on purpose, then succeeds (``flaky.py``)
``GET  /playground/api/radio/...``           the SSE stream with a cut switch (``radio.py``)
``GET  /playground/api/sample.pdf?mb=``      a sample handbook PDF to upload, ``mb`` megabytes
                                             of attachment added so the upload takes a moment
==========================================  ==================================================

Everything else the page calls is the lab's own API (``/tasks``, ``/ws/tasks``,
``/documents``, ``/dlq``, ``/search/compare``, ``/health``) on the same origin.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from .. import i18n
from . import flaky, radio

STATIC_DIR = Path(__file__).resolve().parent / "static"
PREFIX = "/playground"

router = APIRouter(tags=["playground"])
router.include_router(flaky.router)
router.include_router(radio.router)


class FreshStaticFiles(StaticFiles):
    """Static files the browser checks again on every load, so an edited lesson file shows at once."""

    def file_response(self, full_path: Any, stat_result: os.stat_result, scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        return response


@router.get(PREFIX, include_in_schema=False)
def playground_index() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/")


@router.get(f"{PREFIX}/i18n.json", summary="The lab's string catalogue (中文 / English) the page's i18n.js loads")
def catalogue() -> JSONResponse:
    return JSONResponse(i18n.catalogue(), headers={"Cache-Control": "no-cache"})


@router.get(
    f"{PREFIX}/api/sample.pdf",
    summary="A sample PDF to upload (a real handbook, plus `mb` MB of padding)",
    response_class=Response,
    responses={200: {"description": "the PDF", "content": {"application/pdf": {"schema": {"type": "string"}}}}},
)
def sample_pdf(
    mb: float = Query(4.0, ge=0, le=15, description="megabytes of attached random bytes: a bigger upload to watch"),
    topic: int = Query(0, ge=0, le=99, description="which sample handbook"),
) -> Response:
    from pypdf import PdfWriter

    from ..samples import make_sample_pdfs

    with tempfile.TemporaryDirectory() as folder:
        path = make_sample_pdfs(folder, 1, seed=topic)[0]
        writer = PdfWriter(clone_from=path)
        name = path.name
    if mb > 0:
        writer.add_attachment("padding-so-the-upload-takes-a-moment.bin", os.urandom(int(mb * 1024 * 1024)))
    out = io.BytesIO()
    writer.write(out)
    return Response(out.getvalue(), media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})


def install(app: FastAPI) -> None:
    """Add the playground's routes and serve its static files at ``/playground/``."""
    app.include_router(router)
    app.mount(PREFIX, FreshStaticFiles(directory=STATIC_DIR, html=True), name="playground")
