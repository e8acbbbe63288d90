"""The seed's ``handle_failed_tasks``: a sweeper that visits the returns centre (退件处理中心)."""

from __future__ import annotations

from typing import Any

from rq import get_current_job

from ..broker import get_connection
from ..dlq import sweep


def handle_failed_tasks(limit: int = 1000) -> dict[str, Any]:
    """Sweep the dead-letter queue and log every parcel in it."""
    job = get_current_job()
    conn = job.connection if job else get_connection()
    return sweep(conn, limit=limit)
