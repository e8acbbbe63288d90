"""Admission control over HTTP (see :mod:`labs.admission`): who a submit counts against, and its 429.

A route that enqueues jobs takes a :class:`Gate` (``Depends(get_gate)``) and
submits inside ``with gate.admit(conn, n) as ticket:``, then ``ticket.bind(ids)``.
A refusal is ``429`` with ``Retry-After`` (whole seconds) and the lab's error
body, ``{"detail": "rate limit: 200 jobs per 60 s for student alice; ..."}``;
a batch larger than a limit allows at all is a ``422`` (waiting cannot help).
``contract.py`` documents the 429 on every route that takes a gate.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from fastapi import Depends, Request

from .. import admission
from ..admission import Subject, Ticket
from ..students import Viewer
from .students import get_viewer


@dataclass(frozen=True)
class Gate:
    """The admission check of one request."""

    subject: Subject | None

    @contextmanager
    def admit(self, conn: redis.Redis, n: int = 1) -> Iterator[Ticket]:
        """Admit ``n`` jobs (429 if a limit refuses); an error while submitting gives their places back."""
        with admission.admitted(conn, self.subject, n) as ticket:
            yield ticket


def _address(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


def get_gate(request: Request, viewer: Viewer = Depends(get_viewer)) -> Gate:
    """FastAPI dependency: the gate of a request, counted against its student (or client address)."""
    return Gate(admission.subject_for(viewer.student, instructor=viewer.instructor, address=_address(request)))


GATES = (get_gate,)
"""The dependencies that make a route answer 429 (``contract.py`` documents it)."""
