"""Progress from inside a job (类比5: 下载进度条 / a download progress bar).

Call :func:`progress` from a job function::

    for i, path in enumerate(files, start=1):
        handle(path)
        progress(i, len(files), f"processed {path}")

It stores ``{"done", "total", "percent", "message"}`` in ``job.meta``, appends a
``progress`` event to the lifecycle log, and checks the job's cancel flag, so
cancelling works on every worker kind (RQ's stop command does nothing under
``SimpleWorker``). Outside a job it does nothing, so job code also runs as a
plain function.
"""

from __future__ import annotations

from typing import Any

from rq import get_current_job

from . import events
from .errors import JobCancelled
from .settings import settings


def progress_dict(done: float, total: float, message: str = "") -> dict[str, Any]:
    percent = 100.0 if total <= 0 else round(100.0 * min(max(done, 0), total) / total, 1)
    return {"done": done, "total": total, "percent": percent, "message": message}


def progress(done: float, total: float, message: str = "", **data: Any) -> dict[str, Any]:
    """Report progress of the current job and raise :class:`JobCancelled` if it was cancelled.

    Extra keyword arguments (JSON values, e.g. a step's output) travel with the event.
    """
    info = progress_dict(done, total, message)
    job = get_current_job()
    if job is None:
        return info
    conn = job.connection
    job.meta["progress"] = info
    meta = job.serializer.dumps(job.meta)
    events.emit(  # the event and job.meta (RQ's save_meta) in one round trip
        conn,
        job.id,
        "progress",
        "running",
        task=job.meta.get("task", ""),
        rq_status="started",
        attempt=int(job.meta.get("attempt", 1)),
        worker=job.worker_name or settings().rq_worker_id,
        message=message,
        progress=info,
        also=lambda pipe: pipe.hset(job.key, "meta", meta),
        **events.tags(job.meta),
        **data,
    )
    if events.cancel_requested_at_last_emit(job.id):
        raise JobCancelled("cancelled on request")
    return info
