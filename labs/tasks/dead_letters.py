"""The seed's ``handle_failed_tasks``: a sweeper that visits the returns centre (退件处理中心)."""

from __future__ import annotations

from typing import Any

from ..broker import get_connection
from ..dlq import sweep
from ..job_context import current_job


def handle_failed_tasks(limit: int = 1000) -> dict[str, Any]:
    """Sweep the dead-letter queue and log every parcel in it."""
    job = current_job()
    conn = job.conn if job else get_connection()
    return sweep(conn, limit=limit)
