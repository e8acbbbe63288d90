"""Progress from inside a job (类比5: 下载进度条 / a download progress bar).

Call :func:`progress` from a job function::

    for i, path in enumerate(files, start=1):
        handle(path)
        progress(i, len(files), f"processed {path}")

It stores ``{"done", "total", "percent", "message"}`` in the engine's own
record (RQ's ``job.meta``; Celery's result, as ``update_state(state="PROGRESS")``),
appends a ``progress`` event to the lifecycle log, and checks the job's cancel
flag, so cancelling works on every engine and worker kind (RQ's stop command
does nothing under ``SimpleWorker``). The job is found through
:func:`labs.job_context.current_job`, whichever engine runs it. Outside a job
it does nothing, so job code also runs as a plain function.
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any

from . import events
from .errors import JobCancelled
from .job_context import current_job


def progress_dict(done: float, total: float, message: str = "") -> dict[str, Any]:
    percent = 100.0 if total <= 0 else round(100.0 * min(max(done, 0), total) / total, 1)
    return {"done": done, "total": total, "percent": percent, "message": message}


def progress(done: float, total: float, message: str = "", **data: Any) -> dict[str, Any]:
    """Report progress of the current job and raise :class:`JobCancelled` if it was cancelled.

    Extra keyword arguments (JSON values, e.g. a step's output) travel with the event.
    """
    info = progress_dict(done, total, message)
    job = current_job()
    if job is None:
        return info
    with job.guard() if job.guard is not None else contextlib.nullcontext():
        events.emit(  # the event and the engine's record of the progress in one round trip
            job.conn,
            job.id,
            "progress",
            "running",
            task=job.task,
            rq_status=job.status,
            attempt=job.attempt,
            worker=job.worker,
            message=message,
            progress=info,
            also=partial(job.save_progress, info=info) if job.save_progress else None,
            **events.tags(job.meta),
            **data,
        )
    if job.after_progress is not None:
        job.after_progress(info)
    if events.cancel_requested_at_last_emit(job.id):
        raise JobCancelled("cancelled on request")
    return info
