"""Bad input gets a 4xx with one readable line, never a 500 or a traceback wall.

=============================  ======  =========================================
error                          status  example
=============================  ======  =========================================
request body / query invalid   422     ``body.task: unknown task 'x'; the catalogue has: ...``
InvalidParams, UnknownTask     422     ``slow_task: steps: Input should be greater than or equal to 1``
UnknownJob                     404     ``no job with id 'abc'``
NotInDeadLetterQueue           404     ``job 'abc' is not in the dead-letter queue``
NotAllowed (no/unknown token)  401     ``this lab runs in classroom mode: register with POST /students ...``
NameTaken                      409     ``the name 'alice' is taken in this class: pick another ...``
other LabError                 400
BrokerUnavailable              503     ``no broker answers at redis://...; start one with ...``
broker lost mid-request        503     (the connection is remade on the next request)
=============================  ======  =========================================

Every error body is ``{"detail": "<one line>"}``; a validation error also
lists each problem in ``errors``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..dlq import NotInDeadLetterQueue
from ..errors import BrokerUnavailable, InvalidParams, LabError, UnknownTask
from ..jobs import UnknownJob
from ..students import InvalidName, NameTaken, NotAllowed

log = logging.getLogger(__name__)

STATUS: tuple[tuple[type[LabError], int], ...] = (
    (UnknownJob, 404),
    (NotInDeadLetterQueue, 404),
    (UnknownTask, 422),
    (InvalidParams, 422),
    (BrokerUnavailable, 503),
    (NotAllowed, 401),
    (NameTaken, 409),
    (InvalidName, 422),
)


def status_of(exc: LabError) -> int:
    return next((status for kind, status in STATUS if isinstance(exc, kind)), 400)


def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc) or "request"


def describe(errors: list[dict[str, Any]]) -> str:
    """Pydantic's error list as one line: ``body.params: Input should be a valid dictionary; ...``."""
    parts = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            reason = err.get("ctx", {}).get("error", "cannot parse")
            parts.append(f"body: invalid JSON at position {loc[-1] if len(loc) > 1 else 0} ({reason})")
            continue
        parts.append(f"{_where(loc)}: {str(err.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(LabError)
    async def lab_error(request: Request, exc: LabError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAllowed) else None
        return JSONResponse({"detail": str(exc)}, status_code=status_of(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
            for err in exc.errors()
        ]
        return JSONResponse({"detail": describe(list(exc.errors())), "errors": errors}, status_code=422)

    async def broker_lost(request: Request, exc: Exception) -> JSONResponse:
        request.app.state.broker.reset()
        log.warning("lost the broker during %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": f"lost the broker: {exc}; try again when it is back"}, status_code=503)

    app.add_exception_handler(RedisConnectionError, broker_lost)
    app.add_exception_handler(RedisTimeoutError, broker_lost)
