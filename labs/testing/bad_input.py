"""Malformed requests the API must refuse with a clear 4xx (or a WebSocket error frame / close code), never a 5xx.

Two bad inputs go straight into Redis, past the API (a function outside the
catalogue, a document path outside the lab's folders): the worker must refuse
them. These requests are broken on purpose, so they are sent with raw httpx
and websockets, not with :mod:`labs.client` (which only speaks the protocol).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis

from .. import events
from ..states import is_terminal
from ..task_queue import lab_queue
from .waiting import wait_until

PDF_NAME_TRAVERSAL = "../../etc/passwd"


@dataclass(frozen=True)
class BadInput:
    """One malformed request and what a correct refusal looks like."""

    name: str
    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, str]] | None = None
    params: dict[str, str] | None = None


def bad_http_inputs(max_upload_bytes: int) -> list[BadInput]:
    unknown = "0123456789abcdef0123456789abcdef"
    return [
        BadInput("unknown task", "POST", "/tasks", json={"task": "os.system", "params": {"command": "id"}}),
        BadInput("malformed JSON", "POST", "/tasks", content=b'{"task": "noop", ', headers={"Content-Type": "application/json"}),
        BadInput("JSON that is not an object", "POST", "/tasks", json=["noop"]),
        BadInput("params of the wrong type", "POST", "/tasks", json={"task": "slow_task", "params": {"steps": "many"}}),
        BadInput("params not an object", "POST", "/tasks", json={"task": "slow_task", "params": "steps=3"}),
        BadInput("unknown parameter", "POST", "/tasks", json={"task": "noop", "params": {"rm_rf": True}}),
        BadInput("out-of-range retry policy", "POST", "/tasks", json={"task": "noop", "retry": {"max_retries": -5}}),
        BadInput("absurd timeout", "POST", "/tasks", json={"task": "noop", "timeout": 1e12}),
        BadInput(
            "document path traversal",
            "POST",
            "/tasks",
            json={"task": "process_document", "params": {"document": PDF_NAME_TRAVERSAL}},
        ),
        BadInput(
            "upload path traversal name",
            "POST",
            "/documents",
            files={"files": (PDF_NAME_TRAVERSAL, b"root:x:0:0:root:/root:/bin/bash\n", "application/pdf")},
        ),
        BadInput(
            "non-PDF upload", "POST", "/documents", files={"files": ("notes.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")}
        ),
        BadInput(
            "oversized upload",
            "POST",
            "/documents",
            files={"files": ("big.pdf", b"%PDF-1.4\n" + b"0" * (max_upload_bytes + 1024), "application/pdf")},
        ),
        BadInput("bad Last-Event-ID (job stream)", "GET", f"/tasks/{unknown}/stream", headers={"Last-Event-ID": "yesterday"}),
        BadInput("bad Last-Event-ID (firehose)", "GET", "/events", headers={"Last-Event-ID": "'; DROP TABLE jobs;--"}),
        BadInput("unknown job", "GET", f"/tasks/{unknown}"),
        BadInput("malformed job id", "GET", "/tasks/..%2F..%2Fetc%2Fpasswd"),
        BadInput("cancel an unknown job", "POST", f"/tasks/{unknown}/cancel"),
        BadInput("stream an unknown job", "GET", f"/tasks/{unknown}/stream"),
        BadInput("redrive an unknown job", "POST", f"/dlq/{unknown}/redrive", json={}),
        BadInput("unknown state filter", "GET", "/tasks", params={"state": "exploded"}),
        BadInput("negative limit", "GET", "/tasks", params={"limit": "-1"}),
    ]


@dataclass(frozen=True)
class BadFrame:
    """A WebSocket call that must end in an error frame or a close code with a reason."""

    name: str
    path: str
    frames: tuple[str | bytes, ...] = ()


def bad_ws_inputs(job_id: str) -> list[BadFrame]:
    """Garbage WebSocket frames and handshakes; ``job_id`` is a real job, so the call opens."""
    return [
        BadFrame("WebSocket: not JSON", f"/ws/tasks/{job_id}", ("{{{ not json",)),
        BadFrame("WebSocket: JSON but not an object", f"/ws/tasks/{job_id}", ("[1, 2, 3]",)),
        BadFrame("WebSocket: unknown action", f"/ws/tasks/{job_id}", ('{"action": "rm -rf /"}',)),
        BadFrame("WebSocket: resume with a bad id", f"/ws/tasks/{job_id}", ('{"action": "resume", "after": "soon"}',)),
        BadFrame("WebSocket: binary frame", f"/ws/tasks/{job_id}", (b"\x00\xff\xfe garbage",)),
        BadFrame("WebSocket: unknown job", "/ws/tasks/0123456789abcdef0123456789abcdef"),
        BadFrame("WebSocket: bad ?after=", f"/ws/tasks/{job_id}?after=yesterday"),
    ]


@dataclass
class Answer:
    """How the API answered one bad input."""

    name: str
    status: int
    """HTTP status, or the WebSocket close code (0 when the call stayed open after an error frame)."""
    message: str
    """The error's readable line (``detail``, the error frame, or the close reason)."""

    @property
    def clear_4xx(self) -> bool:
        """A refusal with a reason: a 4xx with a detail, or a WebSocket error frame / 4xxx close with a reason."""
        if not self.message.strip():
            return False
        return 400 <= self.status < 500 or 4000 <= self.status < 5000 or self.status == 0

    @property
    def server_error(self) -> bool:
        return 500 <= self.status < 600 or self.status == 1011


def crafted_payload(conn: redis.Redis, job_id: str = "crafted-payload") -> str:
    """Write a job for a non-catalogue function straight into Redis (bypassing the API); return its id."""
    lab_queue(conn).enqueue("os.getcwd", job_id=job_id, meta={"task": "os.getcwd"})
    return job_id


def crafted_traversal(conn: redis.Redis, job_id: str = "crafted-traversal") -> str:
    """Write a catalogue job whose document lies outside the lab straight into Redis (``submit()`` refuses it)."""
    lab_queue(conn).enqueue(
        "labs.tasks.documents.process_document", kwargs={"document": PDF_NAME_TRAVERSAL}, job_id=job_id,
        meta={"task": "process_document"},
    )  # fmt: skip
    return job_id


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail", "")) if isinstance(body, dict) else str(body)[:200]


def _ws_call(ws_url: str, bad: BadFrame) -> Answer:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    try:
        with connect(ws_url + bad.path, open_timeout=10, close_timeout=2) as ws:
            for frame in bad.frames:
                ws.send(frame)
            # the first frame is the snapshot (or the error before a close); look for an error frame
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
                if message.get("type") == "error":
                    if not bad.frames:  # a refused call: the close code comes next
                        with contextlib.suppress(ConnectionClosed, TimeoutError):
                            ws.recv(timeout=5)
                        code = ws.close_code or 0
                        return Answer(bad.name, code, ws.close_reason or message.get("error", ""))
                    return Answer(bad.name, 0, message.get("error", ""))
            return Answer(bad.name, 200, "")
    except ConnectionClosed as exc:
        rcvd = exc.rcvd
        return Answer(bad.name, rcvd.code if rcvd else 1006, rcvd.reason if rcvd else "")
    except Exception as exc:  # a refused handshake: report its HTTP status when there is one
        status = getattr(getattr(exc, "response", None), "status_code", 0) or 1006
        return Answer(bad.name, status, str(exc))


def fire_bad_inputs(
    base_url: str,
    conn: redis.Redis,
    job_id: str,
    max_upload_bytes: int,
    timeout: float = 30.0,
) -> list[Answer]:
    """Send every bad input to the API at ``base_url``; return one :class:`Answer` each.

    ``job_id`` is an existing job (the WebSocket garbage needs an open call);
    ``max_upload_bytes`` is the server's upload limit (``LAB_MAX_UPLOAD_MB``).
    Two bad inputs are written straight into Redis, past the API (a function
    outside the catalogue, a document path outside the lab's folders), so the
    worker must refuse them: their answer is the job's end, ``422`` standing
    for "the worker refused it with the expected error".
    """
    answers: list[Answer] = []
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        for bad in bad_http_inputs(max_upload_bytes):
            try:
                response = client.request(
                    bad.method,
                    bad.path,
                    json=bad.json,
                    content=bad.content,
                    headers=bad.headers,
                    files=bad.files,
                    params=bad.params,
                )
            except httpx.HTTPError as exc:
                answers.append(Answer(bad.name, 599, f"{type(exc).__name__}: {exc}"))
                continue
            answers.append(Answer(bad.name, response.status_code, _detail(response)))
    ws_url = base_url.replace("http://", "ws://", 1)
    answers += [_ws_call(ws_url, bad) for bad in bad_ws_inputs(job_id)]
    stamp = int(time.time() * 1000)
    crafted = crafted_payload(conn, f"crafted-{stamp}")
    answers.append(_refused_by_worker(conn, "crafted payload in Redis", crafted, "ForbiddenTask", timeout))
    crafted = crafted_traversal(conn, f"crafted-traversal-{stamp}")
    answers.append(_refused_by_worker(conn, "crafted document path in Redis", crafted, "outside the lab's", timeout))
    return answers


def _refused_by_worker(conn: redis.Redis, name: str, job_id: str, expected: str, timeout: float) -> Answer:
    """A job the worker must refuse: ``422`` when it failed with ``expected`` in its error, else ``500``."""
    try:
        wait_until(lambda: is_terminal(events.current_state(conn, job_id) or ""), timeout, what=f"the end of job {job_id}")
    except TimeoutError as exc:
        return Answer(name, 504, str(exc))
    history = events.job_events(conn, job_id)
    error = next((str(e.data.get("error")) for e in reversed(history) if e.data.get("error")), "")
    refused = history[-1].state == "failed" and expected in error
    return Answer(name, 422 if refused else 500, error)


def tally(answers: Iterable[Answer]) -> dict[str, int]:
    """Counts of bad inputs tried, clear 4xx refusals and 5xx answers."""
    items = list(answers)
    return {
        "tried": len(items),
        "4xx": sum(a.clear_4xx for a in items),
        "5xx": sum(a.server_error for a in items),
    }
