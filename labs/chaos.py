"""Fault injection and accounting: break the lab on purpose, then count what survived.

Used by the reliability tests (``tests/reliability``) and by
``benchmarks/reliability.py``, so both inject the same faults and count the
same way:

- :class:`RedisServer`: a real ``redis-server`` of its own on a free loopback
  port, with append-only persistence, that can be stopped and started again on
  the same port with the same data (a broker restart).
- :func:`kill_workers_mid_job`: SIGKILL the worker running a job, N times,
  starting a fresh worker after each kill.
- :func:`account` / :func:`wait_terminal`: per-state counts of a set of jobs
  from the event log, and the ids that were lost (no event at all) or are
  stuck (not in a final state).
- :class:`SseFollower`: an SSE client that reconnects with ``Last-Event-ID``.
- :func:`bad_http_inputs`, :func:`bad_ws_inputs` and :func:`fire_bad_inputs`: malformed requests that the
  API must refuse with a clear 4xx (or a WebSocket error frame / close code).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from . import events, keys
from .launcher import kill_worker, stop_process, workers
from .ports import free_port
from .session import LabSession
from .settings import REPO_ROOT, state_dir
from .states import is_terminal


class RedisServerMissing(RuntimeError):
    """No ``redis-server`` binary on this machine."""


def redis_server_binary() -> str:
    """Path of ``redis-server`` (``LAB_REDIS_SERVER`` overrides); :class:`RedisServerMissing` if absent."""
    path = os.environ.get("LAB_REDIS_SERVER") or shutil.which("redis-server")
    if not path or not os.access(path, os.X_OK):
        raise RedisServerMissing(
            "redis-server not found: install Redis (e.g. `apt-get install redis-server`) or set LAB_REDIS_SERVER"
        )
    return path


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM when the process that started it dies (no orphan redis-server)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class RedisServer:
    """A private ``redis-server`` on ``127.0.0.1:<port>``, data in a temp dir, append-only persistence.

    ``appendfsync="always"`` (the default) syncs the log on every write, so
    even a SIGKILL loses nothing; ``"everysec"`` is much faster under load and
    loses nothing on a clean stop. ``stop()`` then ``start()`` (or ``restart()``) brings it back on the same
    port with the same data, as an operator restarting Redis would.
    """

    def __init__(
        self,
        port: int | None = None,
        data_dir: str | Path | None = None,
        appendfsync: str = "always",
        startup_timeout: float = 10.0,
    ) -> None:
        if appendfsync not in {"always", "everysec", "no"}:
            raise ValueError(f"appendfsync must be always, everysec or no, not {appendfsync!r}")
        self.binary = redis_server_binary()
        self.appendfsync = appendfsync
        self.port = port or free_port()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lab-redis-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir)
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1)

    def start(self) -> RedisServer:
        """Start the server (no-op if it runs) and wait until it answers PING."""
        if self.running:
            return self
        cmd = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--protected-mode", "no",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
        )
        deadline = time.monotonic() + self.startup_timeout
        probe = self.client()
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self.proc.returncode}; see {self.data_dir / 'redis.log'}")
                try:
                    if probe.ping():
                        return self
                except redis.exceptions.BusyLoadingError:
                    pass  # replaying the append-only file
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not answer on port {self.port} within {self.startup_timeout:g} s")
                time.sleep(0.02)
        finally:
            probe.close()

    def stop(self, hard: bool = False) -> None:
        """Stop the server: SIGTERM (a clean shutdown) or, with ``hard``, SIGKILL (a crash)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def restart(self, down_for: float = 0.0, hard: bool = False) -> None:
        """Stop, stay down ``down_for`` seconds, start again on the same port with the same data."""
        self.stop(hard=hard)
        time.sleep(down_for)
        self.start()
        self.restarts += 1

    def close(self) -> None:
        """Stop the server and remove its temp data dir (if this object made it)."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class ApiServer:
    """The lab's API (``python -m labs api``: uvicorn) in a process of its own, on a free loopback port.

    It finds the broker as every lab process does (``REDIS_URL`` in ``env`` or
    the environment). Its log goes to ``<state dir>/logs/api-<port>.log``.
    """

    def __init__(self, env: dict[str, str] | None = None, port: int | None = None, startup_timeout: float = 30.0) -> None:
        self.port = port or free_port()
        self.env = {"LAB_API_ACCESS_LOG": "0", "LAB_API_LOG_LEVEL": "warning", **(env or {})}
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> ApiServer:
        logs = state_dir() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"api-{self.port}.log", "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "labs", "api", "--host", "127.0.0.1", "--port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=str(REPO_ROOT),
                env={**os.environ, **self.env},
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
            )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the API exited with {self.proc.returncode}; see {logs / f'api-{self.port}.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=2).status_code in {200, 503}:
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the API did not answer on port {self.port} within {self.startup_timeout:g} s")
            time.sleep(0.1)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process(proc)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- accounting ---------------------------------------------------------------


@dataclass
class Accounting:
    """Where a set of jobs stands according to the event log."""

    counts: dict[str, int]
    lost: list[str] = field(default_factory=list)
    """Ids with no event at all: the lab never heard of them."""
    stuck: list[str] = field(default_factory=list)
    """Ids not (yet) in a final state."""

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + len(self.lost)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.stuck


def account(conn: redis.Redis, job_ids: Iterable[str], chunk: int = 1000) -> Accounting:
    """Per-state counts of ``job_ids`` from the event log (:func:`labs.events.current_state`), plus lost and stuck ids."""
    ids = list(job_ids)
    counts: dict[str, int] = {}
    lost: list[str] = []
    stuck: list[str] = []
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        states = conn.hmget(keys.JOB_STATES, part) if part else []  # what events.current_state reads, in one round trip
        for job_id, raw in zip(part, states, strict=True):
            if raw is None:
                lost.append(job_id)
                continue
            state = raw.decode() if isinstance(raw, bytes) else str(raw)
            counts[state] = counts.get(state, 0) + 1
            if not is_terminal(state):
                stuck.append(job_id)
    return Accounting(counts=counts, lost=lost, stuck=stuck)


def wait_terminal(conn: redis.Redis, job_ids: Iterable[str], timeout: float = 60.0, poll: float = 0.2) -> Accounting:
    """Wait until every job is in a final state (or lost), at most ``timeout`` s; return the last accounting."""
    ids = list(job_ids)
    deadline = time.monotonic() + timeout
    while True:
        result = account(conn, ids)
        if not result.stuck or time.monotonic() > deadline:
            return result
        time.sleep(poll)


def event_names(conn: redis.Redis, job_id: str, skip: Iterable[str] = ("progress",)) -> list[str]:
    """The job's event types in order, without ``skip``."""
    skipped = set(skip)
    return [e.event for e in events.job_events(conn, job_id) if e.event not in skipped]


def wait_for(predicate: Callable[[], Any], timeout: float, poll: float = 0.05, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout:g} s")
        time.sleep(poll)


# -- worker kills ---------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    """One worker SIGKILLed mid-job."""

    worker: str
    job_id: str


def _busy_worker(lab: LabSession, conn: redis.Redis, min_progress: int) -> tuple[str, str] | None:
    """A worker of ``lab`` running a job that has reported ``min_progress`` steps, as (worker, job id)."""
    mine = set(lab.live_names())
    for info in workers(conn):
        job_id = info["current_job"]
        if info["name"] not in mine or not job_id or events.current_state(conn, job_id) != "running":
            continue
        history = events.job_events(conn, job_id)
        started = [i for i, e in enumerate(history) if e.event == "started" and e.worker == info["name"]]
        if started and sum(e.event == "progress" for e in history[started[-1] :]) >= min_progress:
            return info["name"], job_id
    return None


def kill_workers_mid_job(
    lab: LabSession,
    times: int,
    *,
    timeout: float = 60.0,
    min_progress: int = 1,
    replace: bool = True,
    on_kill: Callable[[Kill], None] | None = None,
) -> list[Kill]:
    """SIGKILL a worker of ``lab`` in the middle of a job, ``times`` times; return what was killed.

    Each victim runs a job that has already reported progress, so the kill
    lands mid-job. With ``replace`` a fresh worker is started after each kill,
    so the lab keeps its number of workers.
    """
    conn = lab.conn
    kills: list[Kill] = []
    for _ in range(times):
        name, job_id = wait_for(lambda: _busy_worker(lab, conn, min_progress), timeout, what="a worker busy with a job")
        kill_worker(conn, name)
        lab.stop_worker(name)  # reap the dead process
        kill = Kill(name, job_id)
        kills.append(kill)
        if on_kill is not None:
            on_kill(kill)
        if replace:
            lab.add_worker()
    return kills


# -- SSE ----------------------------------------------------------------------


@dataclass
class SseFollower:
    """Follow an SSE endpoint in a thread, reconnecting with ``Last-Event-ID`` until told to stop.

    ``events`` holds the lifecycle events received (``id`` + JSON data), in
    order; keep-alive pings and ``snapshot`` messages are not events. A job
    stream (``/tasks/{id}/stream``) is done at its ``end`` message or a
    ``204``; ``/events`` runs until :meth:`stop`.
    """

    base_url: str
    path: str
    retry_delay: float = 0.1
    events: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    """The status of every (re)connection attempt."""
    errors: list[str] = field(default_factory=list)
    """``error`` messages from the server and transport errors, in order."""
    done: threading.Event = field(default_factory=threading.Event)
    last_id: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def connections(self) -> int:
        return sum(1 for status in self.statuses if status == 200)

    def start(self) -> SseFollower:
        self._thread = threading.Thread(target=self._run, name=f"sse {self.path}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait(self, timeout: float) -> bool:
        """Wait for a job stream's end; True when it came."""
        return self.done.wait(timeout)

    def _run(self) -> None:
        from httpx_sse import connect_sse

        # a short read timeout: the server pings every few (scaled) seconds, so a silent line is a dead one
        timeout = httpx.Timeout(10.0, read=5.0)
        with httpx.Client(base_url=self.base_url, timeout=timeout) as client:
            while not self._stop.is_set() and not self.done.is_set():
                headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
                try:
                    with connect_sse(client, "GET", self.path, headers=headers) as source:
                        self.statuses.append(source.response.status_code)
                        if source.response.status_code == 204:
                            self.done.set()
                            return
                        if source.response.status_code != 200:
                            source.response.read()
                            time.sleep(self.retry_delay)
                            continue
                        for sse in source.iter_sse():
                            if self._stop.is_set():
                                return
                            if not sse.data:
                                continue  # a keep-alive ping
                            if sse.event == "end":
                                self.done.set()
                                return
                            if sse.event == "error":
                                self.errors.append(sse.data)
                                break
                            if sse.event == "snapshot":
                                continue
                            self.events.append({"id": sse.id, **json.loads(sse.data)})
                            self.last_id = sse.id or self.last_id
                except (httpx.HTTPError, OSError) as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(self.retry_delay)


# -- load ---------------------------------------------------------------------


@dataclass
class Load:
    """What a burst of submissions through the API got back."""

    ids: list[str]
    statuses: dict[int, int]
    """How many answers of each HTTP status (599: the request itself failed)."""
    errors: list[str]
    seconds: float

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    @property
    def rate(self) -> float:
        return len(self.ids) / self.seconds if self.seconds else 0.0


def submit_load(
    base_url: str,
    jobs: int,
    clients: int = 50,
    task: str = "noop",
    params: Callable[[int], dict[str, Any]] = lambda i: {"value": i},
    timeout: float = 60.0,
) -> Load:
    """Submit ``jobs`` jobs with ``POST /tasks`` from ``clients`` concurrent HTTP clients (one connection each)."""
    import asyncio

    async def run() -> Load:
        ids: list[str] = []
        statuses: dict[int, int] = {}
        errors: list[str] = []
        counter = iter(range(jobs))

        async def client_loop() -> None:
            async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as client:
                for i in counter:
                    try:
                        response = await client.post("/tasks", json={"task": task, "params": params(i)})
                    except httpx.HTTPError as exc:
                        statuses[599] = statuses.get(599, 0) + 1
                        errors.append(f"{type(exc).__name__}: {exc}")
                        continue
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    if response.status_code == 202:
                        ids.append(response.json()["id"])
                    elif len(errors) < 20:
                        errors.append(f"{response.status_code}: {response.text[:200]}")

        start = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(clients)))
        return Load(ids, statuses, errors, time.perf_counter() - start)

    return asyncio.run(run())


def count_events(conn: redis.Redis, job_ids: Iterable[str], event: str = "completed", page: int = 5000) -> int:
    """How many ``event`` events of ``job_ids`` the global stream holds (what the workers recorded)."""
    wanted = set(job_ids)
    count, start = 0, "-"
    while True:
        entries = conn.xrange(keys.GLOBAL_STREAM, min=start, count=page)
        for _id, raw in entries:
            if raw.get(b"event") == event.encode() and raw.get(b"job_id", b"").decode() in wanted:
                count += 1
        if len(entries) < page:
            return count
        last = entries[-1][0]
        start = "(" + (last.decode() if isinstance(last, bytes) else last)


# -- bad input ------------------------------------------------------------------

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


def crafted_payload(conn: redis.Redis, job_id: str = "crafted-chaos") -> str:
    """Write a job for a non-catalogue function straight into Redis (bypassing the API); return its id."""
    from .task_queue import lab_queue

    lab_queue(conn).enqueue("os.getcwd", job_id=job_id, meta={"task": "os.getcwd"})
    return job_id


def crafted_traversal(conn: redis.Redis, job_id: str = "crafted-traversal") -> str:
    """Write a catalogue job whose document lies outside the lab straight into Redis (``submit()`` refuses it)."""
    from .task_queue import lab_queue

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
        wait_for(lambda: is_terminal(events.current_state(conn, job_id) or ""), timeout, what=f"the end of job {job_id}")
    except TimeoutError as exc:
        return Answer(name, 504, str(exc))
    history = events.job_events(conn, job_id)
    error = next((str(e.data.get("error")) for e in reversed(history) if e.data.get("error")), "")
    refused = history[-1].state == "failed" and expected in error
    return Answer(name, 422 if refused else 500, error)


def summarize(answers: Iterable[Answer]) -> dict[str, int]:
    """Counts of bad inputs tried, clear 4xx refusals and 5xx answers."""
    items = list(answers)
    return {
        "tried": len(items),
        "4xx": sum(a.clear_4xx for a in items),
        "5xx": sum(a.server_error for a in items),
    }


@contextlib.contextmanager
def env(**values: str) -> Iterator[None]:
    """Set environment variables for the block (for the benchmark; tests use monkeypatch)."""
    old = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
