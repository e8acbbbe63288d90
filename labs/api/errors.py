"""Bad input gets a 4xx with one readable line, never a 500 or a traceback wall: one error model.

=============================  ======  =========================================
error                          status  example
=============================  ======  =========================================
request body / query invalid   422     ``body.task: unknown task 'x'; the catalogue has: ...``
body that cannot be parsed     422     ``body: cannot be read (not UTF-8, or a broken multipart form)``
InvalidParams, UnknownTask     422     ``slow_task: steps: Input should be greater than or equal to 1``
UnknownJob                     404     ``no job with id 'abc'``
NotInDeadLetterQueue           404     ``job 'abc' is not in the dead-letter queue``
NotAllowed (no/unknown token)  401     ``this lab runs in classroom mode: register with POST /students ...``
NameTaken                      409     ``the name 'alice' is taken in this class: pick another ...``
a method the path does not do  405     ``Method Not Allowed``, with ``Allow`` listing the path's methods
UnknownBatch                   404     ``no batch with id 'b-1'``
Refused (admission control)    429     ``rate limit: 200 jobs per 60 s for student alice; ...``, with ``Retry-After``
TooBig (batch over a limit)    422     ``a request of 150 jobs exceeds the cap of 100 jobs ...``
other LabError                 503     the server cannot do it now (no embedder, a setting that does not work)
BrokerUnavailable              503     ``no broker answers at redis://...; start one with ...``
broker lost mid-request        503     (the connection is remade on the next request)
=============================  ======  =========================================

Every error body is ``{"detail": "<one line>"}`` (``ErrorOut``, shown as
``Error`` in ``/openapi.json``); a validation error also lists each problem in
``errors`` (``[{"loc", "msg", "type"}]``). ``contract.py`` documents it as the
body of every 4xx and 503 of every route, in place of FastAPI's own
``HTTPValidationError``, which the lab never sends.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from fastapi.utils import is_body_allowed_for_status_code
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..admission import Refused, TooBig
from ..dlq import NotInDeadLetterQueue
from ..errors import BrokerUnavailable, InvalidParams, LabError, UnknownTask
from ..jobs import UnknownJob
from ..scenarios.batches import UnknownBatch
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
    (UnknownBatch, 404),
    (Refused, 429),
    (TooBig, 422),
)
"""Everything else the lab raises (an embedder or a setting that does not work here) is the server's: 503."""


def status_of(exc: LabError) -> int:
    return next((status for kind, status in STATUS if isinstance(exc, kind)), 503)


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


BODY_UNREADABLE = "There was an error parsing the body"
"""FastAPI's 400 detail for a body it cannot even decode (invalid UTF-8 in JSON); a broken form has Starlette's."""


def route_methods(request: Request) -> set[str] | None:
    """The methods of the path template the request's path matches; None if it matches no API route.

    Starlette's own ``Allow`` names one route's methods, and the playground's static files (a mount
    at ``/playground``) answer 404 for an API path under it called with another method.
    """
    template, methods = None, set()
    for route in iter_route_contexts(request.app.routes):
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is None or not route_methods:
            continue  # a mount or a WebSocket
        if template is None and regex.match(request.scope["path"]):
            template = route.path
        if template is not None and route.path == template:
            methods |= set(route_methods)
    return methods or None


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(LabError)
    async def lab_error(request: Request, exc: LabError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAllowed) else None
        if isinstance(exc, Refused):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse({"detail": str(exc)}, status_code=status_of(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
            for err in exc.errors()
        ]
        return JSONResponse({"detail": describe(list(exc.errors())), "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        status, detail = exc.status_code, str(exc.detail)
        if status in (404, 405):
            methods = route_methods(request)
            if methods is not None and request.method not in methods:
                status, detail = 405, "Method Not Allowed"
                headers["Allow"] = ", ".join(sorted(methods))
            elif status == 405:
                headers["Allow"] = "GET, HEAD"  # the playground's static files
        if status == 400:  # FastAPI and Starlette could not read the body (JSON that is not UTF-8, a broken form)
            cause = exc.__cause__
            reason = detail if detail != BODY_UNREADABLE or cause is None else f"{type(cause).__name__}: {str(cause)[:200]}"
            detail = f"body: cannot be read ({reason})"
            error = {"loc": ["body"], "msg": detail, "type": "body_unreadable"}
            return JSONResponse({"detail": detail, "errors": [error]}, status_code=422)
        if not is_body_allowed_for_status_code(status):
            return Response(status_code=status, headers=headers)
        return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)

    async def broker_lost(request: Request, exc: Exception) -> JSONResponse:
        request.app.state.broker.reset()
        log.warning("lost the broker during %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": f"lost the broker: {exc}; try again when it is back"}, status_code=503)

    app.add_exception_handler(RedisConnectionError, broker_lost)
    app.add_exception_handler(RedisTimeoutError, broker_lost)
