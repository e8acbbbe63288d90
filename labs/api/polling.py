"""Polling (the seed's scenario 3, 定期查看订单状态) made cheap with ETag / If-None-Match.

A client that asks "where is my parcel?" every second mostly hears "same as
before". ``GET /tasks/{id}`` sends an ``ETag`` that changes exactly when the
job does (a new lifecycle event or a new RQ status). A client that sends the
tag back in ``If-None-Match`` gets ``304 Not Modified`` and no body while
nothing changed::

    GET /tasks/42                                            -> 200  ETag: W/"1700000000000-3.started"
    GET /tasks/42  If-None-Match: W/"1700000000000-3.started" -> 304  (no body)
    ... the worker reports progress ...
    GET /tasks/42  If-None-Match: W/"1700000000000-3.started" -> 200  ETag: W/"1700000000123-0.started"

The tag comes from two small reads (the job's newest event id and RQ's status
field), so a ``304`` costs far less than building the whole view. A browser's
``fetch`` does the ``If-None-Match`` dance by itself for ``GET`` requests.
"""

from __future__ import annotations

import redis
from rq.job import Job

from .. import keys


def job_etag(conn: redis.Redis, job_id: str) -> str | None:
    """The job's current ETag, or None when there is no such job."""
    pipe = conn.pipeline(transaction=False)
    pipe.xrevrange(keys.job_stream(job_id), count=1)
    pipe.hget(Job.key_for(job_id), "status")
    newest, status = pipe.execute()
    if not newest and status is None:
        return None
    last_id = newest[0][0].decode() if newest else "0-0"
    return f'W/"{last_id}.{status.decode() if status else "-"}"'


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """True when the client's ``If-None-Match`` already names ``etag`` (weak comparison, RFC 9110)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(_opaque(tag) == _opaque(etag) for tag in if_none_match.split(","))
