"""Who is asking: classroom namespaces over HTTP (see :mod:`labs.students`).

=========================  ==============================================================
``POST /students``         ``{"name": "alice"}`` -> ``201 {"name", "token"}`` (409 if taken)
``GET  /students/me``      who your token says you are, and what you can see
``GET  /students``         the instructor's list: each student and their job count
=========================  ==============================================================

Every other route takes the token as ``Authorization: Bearer <token>``, or as
``?token=`` where a browser cannot set headers (``EventSource``, ``WebSocket``),
or from the ``lab_token`` cookie that ``POST /students`` sets: a page served by
the API (the playground) then needs no token code at all, since the browser
sends the cookie with every ``fetch``, ``EventSource`` and ``WebSocket``.
A student's requests see only their own jobs, batches and returns; another
student's job answers 404, exactly like a job that does not exist.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Cookie, Depends, Header, HTTPException, Query, Response, WebSocket
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from .. import students
from ..errors import BrokerUnavailable
from ..students import NotAllowed, Viewer
from .connections import Broker, get_broker
from .models import ErrorOut, Me, StudentIn, StudentList, StudentToken

router = APIRouter(tags=["classroom"])

COOKIE = "lab_token"
CLOSE_NOT_ALLOWED, CLOSE_TRY_LATER = 4401, 1013
"""WebSocket close codes: no token or an unknown one (like HTTP 401); broker unavailable."""


def _token(authorization: str | None, token: str | None, cookie: str | None) -> str | None:
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise NotAllowed("Authorization: expected 'Bearer <token>'")
        return value.strip()
    return token or cookie or None


def resolve(broker: Broker, authorization: str | None, token: str | None, cookie: str | None = None) -> Viewer:
    """The viewer behind a request; an open lab with no token needs no broker round trip."""
    raw = _token(authorization, token, cookie)
    if raw is None and not students.classroom_mode():
        return students.EVERYONE
    return students.viewer_for(broker.sync(), raw)


def get_viewer(
    authorization: str | None = Header(None, description="Bearer <token> from POST /students (classroom mode)"),
    token: str | None = Query(None, max_length=200, description="the token, where a header cannot be set"),
    lab_token: str | None = Cookie(None, max_length=200, description="set by POST /students"),
    broker: Broker = Depends(get_broker),
) -> Viewer:
    """FastAPI dependency: who is asking (401 in classroom mode without a known token)."""
    return resolve(broker, authorization, token, lab_token)


async def ws_viewer(websocket: WebSocket) -> Viewer | None:
    """The viewer of an accepted WebSocket, or None after closing it with 4401 and the reason."""
    try:
        return await run_in_threadpool(
            resolve,
            websocket.app.state.broker,
            websocket.headers.get("authorization"),
            websocket.query_params.get("token"),
            websocket.cookies.get(COOKIE),
        )
    except NotAllowed as exc:
        reason, code = str(exc), CLOSE_NOT_ALLOWED
    except (BrokerUnavailable, RedisError) as exc:
        reason, code = f"broker unavailable: {exc}", CLOSE_TRY_LATER
    await websocket.send_json({"type": "error", "error": reason})
    await websocket.close(code, reason=reason[:120])
    return None


@router.post(
    "/students",
    status_code=201,
    response_model=StudentToken,
    responses={409: {"model": ErrorOut, "description": "the name is taken"}},
    summary="Join the class: a name in, a token out (shown once)",
)
def register(body: StudentIn, response: Response, broker: Broker = Depends(get_broker)) -> dict[str, Any]:
    name = students.check_name(body.name)
    token = students.register(broker.sync(), name)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=7 * 24 * 3600)
    return {"name": name, "token": token}


@router.get("/students/me", response_model=Me, responses={401: {"model": ErrorOut}}, summary="Who am I here?")
def me(viewer: Viewer = Depends(get_viewer)) -> dict[str, Any]:
    return {
        "name": viewer.student,
        "instructor": viewer.instructor,
        "classroom": students.classroom_mode(),
        "sees": "own jobs" if viewer.student else "all jobs",
    }


@router.get(
    "/students",
    response_model=StudentList,
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
    summary="The class list with each student's job count (instructor)",
)
def class_list(viewer: Viewer = Depends(get_viewer), broker: Broker = Depends(get_broker)) -> dict[str, Any]:
    if viewer.student is not None:
        raise HTTPException(403, "only the instructor sees the class list")
    conn = broker.sync()
    counts: dict[str, int] = {}
    for item, owner in conn.hgetall(students.OWNERS).items():
        if not item.startswith(b"b-"):  # batch ids start with b-; count jobs
            counts[owner.decode()] = counts.get(owner.decode(), 0) + 1
    return {"students": [{"name": name, "jobs": counts.get(name, 0)} for name in students.names(conn)]}
