"""Where the lab's documents may live: the uploads folder and any extra roots.

A job's document parameter is a name under ``<state dir>/documents`` or a path
inside one of ``LAB_DOCUMENT_ROOTS``; anything else is refused twice, at submit
(the catalogue's parameter check) and in the worker (a job written straight
into Redis), so a job can never be pointed at ``/etc/passwd``.
"""

from __future__ import annotations

from pathlib import Path

from .settings import settings, state_dir


def documents_dir() -> Path:
    """Where uploaded and sample PDFs live (``<state dir>/documents``)."""
    path = state_dir() / "documents"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _allowed_roots() -> list[Path]:
    return [root.resolve() for root in (documents_dir(), *settings().document_roots)]


def inside_lab(ref: str) -> Path | None:
    """Where a document reference points, or None when that is outside the lab's document folders."""
    candidate = Path(ref)
    if not candidate.is_absolute():
        candidate = documents_dir() / candidate
    candidate = candidate.resolve()
    return candidate if any(candidate == root or root in candidate.parents for root in _allowed_roots()) else None
