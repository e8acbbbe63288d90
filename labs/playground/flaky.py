"""An endpoint that fails on purpose, for the seed's ``fetchWithRetry`` (类比6: 快递重新投递).

``GET /playground/api/flaky?key=<k>&fail=<n>`` answers ``503`` to the first
``n`` calls made with the same ``key`` and ``200`` from then on, like a courier
who finds nobody home ``n`` times. Every call is recorded with the time it
arrived, so the page can plot the attempts the server really saw:
``GET /playground/api/flaky/log?key=<k>``.

The endpoint is left out of the OpenAPI schema (``/docs``): every other route
promises never to answer bad input with a 5xx, and this one fails by design.

The record lives in this API process's memory (the newest :data:`MAX_KEYS`
keys): it is a demo helper, not part of the lab's job system. Handlers are
``async def`` without an ``await`` in between reading and writing the record,
so two calls for one key cannot interleave.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

router = APIRouter(prefix="/playground/api/flaky", tags=["playground"])

MAX_KEYS = 500
KEY = Query(
    ..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="your run's name; calls are counted per key"
)

_attempts: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()


def _record(key: str) -> list[dict[str, Any]]:
    log = _attempts.pop(key, [])
    _attempts[key] = log  # newest key last
    while len(_attempts) > MAX_KEYS:
        _attempts.popitem(last=False)
    return log


# Left out of the OpenAPI schema: its 503s are on purpose, and the schema describes an API that
# never answers bad input with a 5xx (tests/api/test_api_fuzz.py holds it to that).
@router.get("", summary="Fail the first `fail` calls for `key` with 503, then answer 200", include_in_schema=False)
async def flaky(key: str = KEY, fail: int = Query(2, ge=0, le=20, description="how many calls fail first")) -> JSONResponse:
    log = _record(key)
    attempt = len(log) + 1
    ok = attempt > fail
    status = 200 if ok else 503
    log.append({"attempt": attempt, "status": status, "t": time.time()})
    if ok:
        return JSONResponse({"key": key, "attempt": attempt, "message": f"delivered on attempt {attempt}"})
    detail = f"failing on purpose: call {attempt} of the {fail} planned failures (收件人不在)"
    return JSONResponse({"detail": detail, "attempt": attempt}, status_code=status)


@router.get("/log", summary="Every call the flaky endpoint got for `key`, oldest first")
async def flaky_log(key: str = KEY) -> dict[str, Any]:
    attempts = list(_attempts.get(key, []))
    return {"key": key, "attempts": attempts, "count": len(attempts)}
