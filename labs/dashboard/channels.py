"""One job watched three ways at once: WebSocket (电话), SSE (广播电台) and polling (定期查物流).

Each :class:`Watcher` is a real client of the lab's API running in a
background thread. It records every lifecycle event it receives with the time
it arrived, so the page can show, per channel, how many events it saw, whether
it missed any (events carry a per-job ``seq`` 1, 2, 3, ...) and its delay
(arrival time - the time the worker recorded the event).

Cutting the connection shows the seed's key difference:

- :class:`SSEWatcher` behaves like the browser's ``EventSource``: when the line
  drops it reconnects *by itself* after the server's ``retry:`` hint and sends
  ``Last-Event-ID``; the server resumes right after it, so nothing is missed.
- :class:`WSWatcher` stays dropped, like a phone call, until the client
  *redials* (:meth:`WSWatcher.redial`) and sends ``{"action": "resume", "after": <id>}``.
- :class:`PollWatcher` has no line to cut: every poll is a fresh request
  (``If-None-Match`` makes the unchanged answers a cheap ``304``).
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from ..client import CLOSE_BROKER_LOST, CLOSE_TRY_LATER, ApiError, LabClient, SseFollow, WsCall, hung_up_on_purpose
from ..clock import scaled
from ..settings import settings
from ..states import is_terminal

CHANNELS = ("websocket", "sse", "polling")


def api_url() -> str:
    """The API's base URL (``LAB_API_URL``, default ``http://127.0.0.1:8000``)."""
    return settings().api_url


def instructor_token() -> str | None:
    """The instructor's token for an API in classroom mode (the dashboard sees every job)."""
    return settings().instructor_token or None


def api_client(base: str) -> LabClient:
    """A client of the API at ``base`` with the instructor's token, if any (:mod:`labs.client`)."""
    return LabClient(base, token=instructor_token(), timeout=10.0)


def api_alive(base: str | None = None, timeout: float = 1.0) -> bool:
    """True when the API answers ``GET /health`` (even with 503: the API runs, the broker is down)."""
    with api_client(base or api_url()) as api:
        return api.alive(timeout)


def submit(base: str, task: str, params: dict[str, Any], **extra: Any) -> str:
    """``POST /tasks``; return the new job's id (raises ``labs.client.ApiError``, an ``httpx.HTTPStatusError``)."""
    with api_client(base) as api:
        return api.submit(task, params, **extra)


@dataclass(frozen=True)
class Seen:
    """One event as one channel received it."""

    id: str
    seq: int
    event: str
    state: str
    ts: float
    received: float
    live: bool
    """Recorded after the watcher started (history replayed on connect is not a delivery delay)."""
    progress: float | None = None

    @property
    def delay_ms(self) -> float:
        return max(0.0, (self.received - self.ts) * 1000)


class Watcher:
    """A client of one channel in a background thread (see the module docs)."""

    channel = ""

    def __init__(self, base: str, job_id: str) -> None:
        self.base = base.rstrip("/")
        self.job_id = job_id
        self.status = "idle"
        self.error = ""
        self.reconnects = 0
        self.repeats = 0
        self.started_at = 0.0
        self.last_id: str | None = None
        self.state = ""
        self.done = False
        self._seen: dict[str, Seen] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life -----------------------------------------------------------------
    def start(self) -> Watcher:
        self.started_at = time.time()
        self._thread = threading.Thread(target=self._main, name=f"watch-{self.channel}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.cut()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _main(self) -> None:
        try:
            self.run()
        except Exception as exc:  # a watcher reports its error on the page, never a traceback
            self.status, self.error = "error", f"{type(exc).__name__}: {exc}"
        else:
            if self._stop.is_set() and not self.done:
                self.status = "stopped"

    def run(self) -> None:  # pragma: no cover - each channel implements it
        raise NotImplementedError

    def cut(self) -> bool:
        """Drop the line abruptly (as a network fault would); False when there is no line to cut."""
        return False

    # -- recording --------------------------------------------------------------
    def record(self, event: dict[str, Any], received: float | None = None, *, count_repeat: bool = True) -> bool:
        """Keep one event (the first copy of each id); return False for a repeat."""
        received = time.time() if received is None else received
        event_id = str(event.get("id", ""))
        with self._lock:
            if event_id in self._seen:
                self.repeats += int(count_repeat)
                return False
            ts = float(event.get("ts", 0) or 0)
            progress = (event.get("progress") or {}).get("percent")
            self._seen[event_id] = Seen(
                id=event_id,
                seq=int(event.get("seq", 0) or 0),
                event=str(event.get("event", "")),
                state=str(event.get("state", "")),
                ts=ts,
                received=received,
                live=ts >= self.started_at,
                progress=float(progress) if progress is not None else None,
            )
            self.last_id = event_id
            self.state = str(event.get("state", "")) or self.state
        return True

    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen.values())

    def summary(self) -> dict[str, Any]:
        """What the page shows for this channel."""
        seen = self.seen()
        seqs = {s.seq for s in seen if s.seq}
        missed = (max(seqs) - len(seqs)) if seqs else 0
        delays = [s.delay_ms for s in seen if s.live]
        percent = next((s.progress for s in reversed(seen) if s.progress is not None), None)
        return {
            "channel": self.channel,
            "status": self.status,
            "error": self.error,
            "events": len(seen),
            "missed": missed,
            "repeats": self.repeats,
            "reconnects": self.reconnects,
            "median_ms": statistics.median(delays) if delays else None,
            "max_ms": max(delays) if delays else None,
            "state": self.state,
            "percent": percent,
            "last_id": self.last_id,
            "done": self.done,
        }

    def delay_rows(self) -> list[dict[str, Any]]:
        return [
            {"channel": self.channel, "seq": s.seq, "event": s.event, "delay_ms": round(s.delay_ms, 2)}
            for s in self.seen()
            if s.live
        ]


class SSEWatcher(Watcher):
    """The radio (广播电台): one-way, and it reconnects by itself with ``Last-Event-ID`` (:class:`labs.client.SseFollow`)."""

    channel = "sse"

    def __init__(self, base: str, job_id: str) -> None:
        super().__init__(base, job_id)
        self._api = api_client(self.base)
        # like EventSource: wait the server's retry: hint (3 demo s until it gives one); any HTTP error ends the watch
        self.follow: SseFollow = self._api.follow(
            job_id, default_retry=max(0.1, scaled(3)), retry_statuses=(), on_state=self._on_state
        )

    def _on_state(self, state: str) -> None:
        self.reconnects = self.follow.reconnects
        if state in {"connecting", "open", "reconnecting", "done"}:
            self.status = state

    def run(self) -> None:
        try:
            for message in self.follow:
                if message.type == "event":
                    self.record(message.data, message.received)
                elif message.type == "end":
                    self.done, self.status = True, "done"
                elif message.type == "error":
                    self.error = str(message.data.get("error", ""))
            self.done = self.done or self.follow.done  # a 204: over, and we have every event
        finally:
            self._api.close()
        if self.done:
            self.status = "done"

    def cut(self) -> bool:
        return self.follow.cut()

    def stop(self) -> None:
        self._stop.set()
        self.follow.close()


class WSWatcher(Watcher):
    """The phone call (电话): two-way, with a heartbeat; a dropped call needs the client to redial."""

    channel = "websocket"

    def __init__(self, base: str, job_id: str) -> None:
        super().__init__(base, job_id)
        self.heartbeats = 0
        self._call: WsCall | None = None
        self._redial = threading.Event()

    def run(self) -> None:
        resume = False
        with api_client(self.base) as api:
            while not self._stop.is_set():
                self.status = "connecting"
                try:
                    with api.connect_ws(self.job_id, open_timeout=10, close_timeout=1) as call:
                        self._call = call
                        self.status = "open"
                        if resume and self.last_id:
                            call.resume(self.last_id)
                        self._listen(call)
                except ConnectionClosedOK:
                    pass
                except ConnectionClosed as exc:
                    code = exc.rcvd.code if exc.rcvd is not None else None
                    if hung_up_on_purpose(code) or code in (CLOSE_BROKER_LOST, CLOSE_TRY_LATER):
                        # the server hung up on purpose (unknown job, bad request, broker trouble): say why, stop
                        self.status = "error"
                        self.error = self.error or f"closed by the server ({code}): {exc.rcvd.reason if exc.rcvd else ''}"
                        return
                except (OSError, TimeoutError):
                    pass  # the line dropped: wait for the client to redial
                finally:
                    self._call = None
                if self.done or self._stop.is_set():
                    break
                self.status = "dropped"
                self._redial.clear()
                while not (self._redial.wait(0.1) or self._stop.is_set()):
                    pass
                if self._stop.is_set():
                    break
                self.reconnects += 1
                resume = True
        if self.done:
            self.status = "done"

    def _listen(self, call: WsCall) -> None:
        while not self._stop.is_set():
            try:
                message = call.recv(timeout=0.5)
            except TimeoutError:
                continue
            if message.type == "event":
                self.record(message.data, message.received)
            elif message.type == "heartbeat":
                self.heartbeats += 1
            elif message.type == "end":
                self.done, self.status = True, "done"
            elif message.type == "error":
                self.error = str(message.data.get("error", ""))

    def redial(self) -> None:
        """The client calls back and asks to resume after the last event it has."""
        self._redial.set()

    def send(self, message: dict[str, Any]) -> None:
        """Say something on the line (e.g. ``{"action": "cancel"}``): the phone works both ways."""
        if self._call is not None:
            self._call.send(message)

    def cut(self) -> bool:
        call = self._call
        return call.cut() if call is not None else False

    def stop(self) -> None:
        super().stop()
        self._redial.set()


class PollWatcher(Watcher):
    """Checking the order status every so often (定期查看订单状态), with ``If-None-Match``."""

    channel = "polling"

    def __init__(self, base: str, job_id: str, interval: float | None = None) -> None:
        super().__init__(base, job_id)
        self.interval = interval if interval is not None else max(0.05, scaled(1.0))
        self.requests = 0
        self.not_modified = 0

    def run(self) -> None:
        etag: str | None = None
        final_checks = 0
        with api_client(self.base) as api:
            while not self._stop.is_set():
                self.status = "polling"
                try:
                    answer = api.get(self.job_id, etag)
                except ApiError as exc:
                    raise RuntimeError(str(exc)) from None
                except httpx.TransportError as exc:
                    self.error = f"{type(exc).__name__}: {exc}"
                    self._stop.wait(self.interval)
                    continue
                self.requests += 1
                if not answer.changed:
                    self.not_modified += 1
                elif answer.view is not None:
                    etag = answer.etag
                    for event in answer.view.get("events") or []:  # the whole history each time: keep the new ones
                        self.record(event, answer.received, count_repeat=False)
                    self.state = answer.view.get("state", self.state)
                if is_terminal(self.state):
                    final_checks += 1  # one more look for the dead_lettered note that follows a failure
                    if final_checks > 1:
                        self.done = True
                        break
                self._stop.wait(self.interval)
        self.status = "done" if self.done else self.status

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "requests": self.requests, "not_modified": self.not_modified}


class ChannelSession:
    """The three watchers of one job, kept in the page's session state."""

    def __init__(self, base: str, job_id: str, poll_interval: float | None = None) -> None:
        self.base, self.job_id = base, job_id
        self.watchers: dict[str, Watcher] = {
            "websocket": WSWatcher(base, job_id),
            "sse": SSEWatcher(base, job_id),
            "polling": PollWatcher(base, job_id, poll_interval),
        }

    def start(self) -> ChannelSession:
        for watcher in self.watchers.values():
            watcher.start()
        return self

    def stop(self) -> None:
        for watcher in self.watchers.values():
            watcher.stop()

    def join(self, timeout: float = 5.0) -> None:
        for watcher in self.watchers.values():
            watcher.join(timeout)

    @property
    def done(self) -> bool:
        return all(w.done or w.status in {"error", "stopped"} for w in self.watchers.values())

    def summaries(self) -> dict[str, dict[str, Any]]:
        return {name: watcher.summary() for name, watcher in self.watchers.items()}

    def delay_rows(self) -> list[dict[str, Any]]:
        return [row for watcher in self.watchers.values() for row in watcher.delay_rows()]
