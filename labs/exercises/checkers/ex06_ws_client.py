"""Checks for exercise 6: the student's client against a real, flaky WebSocket server.

The server (the websockets library, on a free loopback port, in its own
thread) serves the events of a real job run by the lab's worker, with the same
frames as the lab's API (snapshot, ack, event, heartbeat, end). It follows a
script, one step per connection attempt: drop the line mid-stream, refuse
while "restarting" (HTTP 503), send one event again (at-least-once) and close
with 1012 "service restart", then finish.
It records every attempt and every resume request; the student's ``sleep`` is
replaced by one that records each wait instead of waiting.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from types import ModuleType
from typing import Any

from ..grading import Fail, Grader, expect, one_line, short, where
from ..runner import ExerciseLab

BASE, CAP = 0.5, 8.0
CLIENT_TIMEOUT = 20.0
NO_RESUME = "<no resume message>"

REQUIRED = ("follow",)
"""What the exercise file must define."""


@dataclass
class Step:
    """What the server does on one connection attempt."""

    action: str  # "send" or "reject"
    count: int | None = None  # events to send (None: all that are left)
    then: str = "end"  # after sending: "abort" (the line drops), "restart" (close 1012) or "end"
    again: bool = False  # first send the event the client resumed after once more (at-least-once delivery)


@dataclass
class Attempt:
    number: int
    rejected: bool = False
    resume: Any = NO_RESUME
    sent: list[str] = field(default_factory=list)
    client_closed: bool | None = None


class FlakyServer:
    """A WebSocket server in a thread that plays ``script`` over the events of one job."""

    def __init__(self, events: list[dict[str, Any]], script: list[Step]) -> None:
        self.events = events
        self.script = script
        self.attempts: list[Attempt] = []
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="flaky-ws", daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/tasks/{self.events[0]['job_id']}"

    def _step(self, number: int) -> Step:
        return self.script[number] if number < len(self.script) else Step("send")

    def _process_request(self, connection: Any, request: Any) -> Any:
        attempt = Attempt(len(self.attempts))
        self.attempts.append(attempt)
        connection.lab_attempt = attempt
        if self._step(attempt.number).action == "reject":
            attempt.rejected = True
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "restarting, try again later\n")
        return None

    async def _handler(self, ws: Any) -> None:
        attempt: Attempt = ws.lab_attempt
        step = self._step(attempt.number)
        await ws.send(json.dumps({"type": "snapshot", "job": {"id": self.events[0]["job_id"], "state": "running"}}))
        try:
            first = json.loads(await asyncio.wait_for(ws.recv(), 2.0))
            if isinstance(first, dict) and first.get("action") == "resume":
                attempt.resume = first.get("after")
        except (TimeoutError, ValueError):
            pass
        await ws.send(json.dumps({"type": "ack", "action": "resume", "after": attempt.resume}))
        ids = [e["id"] for e in self.events]
        start = ids.index(attempt.resume) + 1 if attempt.resume in ids else 0
        chosen = self.events[start:] if step.count is None else self.events[start : start + step.count]
        if step.again and start > 0:
            chosen = [self.events[start - 1], *chosen]
        for n, event in enumerate(chosen):
            await ws.send(json.dumps({"type": "event", **event}))
            attempt.sent.append(event["id"])
            if n == 0:
                await ws.send(json.dumps({"type": "heartbeat", "ts": time.time()}))  # "still on the line"
        if step.then == "abort":
            ws.transport.abort()  # the line drops without a goodbye
        elif step.then == "restart":
            await ws.close(1012, "service restart")
        else:
            last = self.events[-1]
            await ws.send(json.dumps({"type": "end", "state": last["state"], "last_event_id": last["id"]}))
            try:
                await asyncio.wait_for(ws.wait_closed(), 2.0)
                attempt.client_closed = True
            except TimeoutError:
                attempt.client_closed = False

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        quiet = logging.getLogger("labs.exercises.ws_server")
        async with serve(self._handler, "127.0.0.1", 0, process_request=self._process_request, logger=quiet) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> FlakyServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the test WebSocket server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


@dataclass
class Outcome:
    result: Any = None
    error: BaseException | None = None
    sleeps: list[float] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)


def run_coroutine(coro: Any) -> Any:
    """``asyncio.run(coro)``, in a helper thread when this one already runs a loop (a Jupyter cell)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:  # handed back to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="check-client")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("result")


def run_client(module: ModuleType, events: list[dict[str, Any]], script: list[Step], **options: Any) -> Outcome:
    """Run the student's ``follow`` against a server playing ``script``; record its waits."""
    outcome = Outcome()

    async def recording_sleep(delay: float) -> None:
        outcome.sleeps.append(delay)
        await asyncio.sleep(0)

    with FlakyServer(events, script) as server:
        follow = module.follow
        if not inspect.iscoroutinefunction(follow):
            raise Fail("follow is not an async function", "用 async def 定义 follow / define follow with async def")
        try:
            outcome.result = run_coroutine(asyncio.wait_for(follow(server.url, sleep=recording_sleep, **options), CLIENT_TIMEOUT))
        except NotImplementedError:
            raise
        except Exception as exc:
            outcome.error = exc
        outcome.attempts = list(server.attempts)
    return outcome


def _raise_client_error(outcome: Outcome, module: ModuleType, hint: str = "") -> None:
    if outcome.error is None:
        return
    if isinstance(outcome.error, TimeoutError):
        raise Fail(
            f"follow() had not returned after {CLIENT_TIMEOUT:g} s ({len(outcome.attempts)} connection attempts)",
            "收到终态事件就 return；每次重拨前 await sleep(...) / return after the terminal event; "
            "await sleep(...) before each redial",
        )
    location = where(outcome.error, module)
    at = f" (line {location[1]})" if location else ""
    raise Fail(
        f"follow() raised {one_line(outcome.error)}{at} after {len(outcome.attempts)} connection attempt(s)",
        hint
        or "断线、被拒绝都要捕获然后重拨：except (OSError, websockets.exceptions.WebSocketException) / "
        "catch drops and refusals and redial",
    )


def check(module: ModuleType, g: Grader) -> None:
    lab = ExerciseLab()
    job = lab.submit("slow_task", {"steps": 4, "step_seconds": 0.05})
    lab.run()
    events = [e.to_dict() for e in lab.events(job)]  # 7 real events: enqueued, started, 4 x progress, completed
    ids = [e["id"] for e in events]
    script = [
        Step("send", 3, "abort"),  # the line drops after 3 events
        Step("reject"),  # the server is restarting: 503
        Step("reject"),
        Step("send", 2, "restart", again=True),  # event 3 again, 2 more events, then close 1012
        Step("send"),  # the rest, up to "completed"
    ]
    run: dict[str, Outcome] = {}

    def main_run() -> Outcome:
        if "main" not in run:
            raise Fail("the client could not be run (see the first check)", "先让第一项检查能跑起来 / fix the first check first")
        return run["main"]

    @g.check("每个事件收到且只收到一次 / every event, once, in order")
    def _() -> None:
        run["main"] = outcome = run_client(module, events, script, base=BASE, cap=CAP, max_reconnects=10)
        _raise_client_error(outcome, module)
        got = outcome.result
        expect(isinstance(got, list), f"follow() returned {short(got)}, not the list of events", "return the list of events")
        got_ids = [m.get("id") if isinstance(m, dict) else m for m in got]
        dupes = sorted({i for i in got_ids if got_ids.count(i) > 1}, key=str)
        if dupes == [ids[2]]:
            raise Fail(
                f"follow() returned event {ids[2]} twice: the server sent it again after the redial",
                "服务器可能重发（至少一次投递）：id 已经收到过的事件跳过 / the server may send an event again "
                "(at-least-once delivery): skip an id you already have",
            )
        expect(
            not dupes,
            f"follow() returned {len(got_ids)} events with duplicates {short(dupes[:3])}",
            '重拨后发 {"action": "resume", "after": 最后收到的 id} / after redialling, send '
            '{"action": "resume", "after": <last id received>}',
        )
        events_only = [i for i in got_ids if i in ids]
        expect(
            events_only == ids,
            f"follow() returned ids {short(got_ids, 200)}, expected the job's {len(ids)} events {short(ids, 200)}",
            "断线后要重拨，直到收到终态事件 / redial after a drop until the terminal event arrives",
        )

    @g.check("重拨后续传 / each new connection resumes after the last event")
    def _() -> None:
        outcome = main_run()
        accepted = [a for a in outcome.attempts if not a.rejected]
        resumes = [a.resume for a in accepted]
        want = [None, ids[2], ids[4]]
        expect(
            NO_RESUME not in resumes,
            f"the server got no resume message on connection(s) {[a.number + 1 for a in accepted if a.resume == NO_RESUME]}",
            '每次连上先发 {"action": "resume", "after": ...} / first send {"action": "resume", "after": ...} on every connection',
        )
        expect(
            resumes == want,
            f"the resume requests asked for events after {short(resumes)}, expected {short(want)}",
            "after 是最后收到的事件的 id（第一次是 None） / after is the id of the last event received (None at first)",
        )

    @g.check("心跳不是事件 / a heartbeat is not an event")
    def _() -> None:
        got = main_run().result or []
        others = [m for m in got if isinstance(m, dict) and m.get("type") != "event"]
        expect(
            not others,
            f"follow() returned {len(others)} message(s) that are not events: {short(others[:1])}",
            '跳过 type 不是 "event" 的消息 / skip messages whose type is not "event"',
        )

    @g.check("重拨等待越来越长 / the waits grow while the server is down")
    def _() -> None:
        sleeps = main_run().sleeps
        expect(
            len(sleeps) >= 3,
            f"follow() waited {len(sleeps)} time(s) ({short(sleeps)}) over 4 redials",
            "每次重拨之前 await sleep(delay)，用参数 sleep / await sleep(delay) before each redial, with the sleep argument",
        )
        first = sleeps[:3]
        expect(
            first[0] < first[1] < first[2],
            f"three failures in a row waited {short(first)} s: the waits should grow (exponential backoff)",
            "连续第 n 次失败等 min(cap, base * 2 ** n) / the n-th failure in a row waits min(cap, base * 2 ** n)",
        )
        want = [BASE, 2 * BASE, 4 * BASE]
        expect(
            all(abs(a - b) < 1e-9 for a, b in zip(first, want, strict=True)),
            f"three failures in a row waited {short(first)} s with base={BASE}; expected {want}",
            "第一次等 base 秒：n 从 0 开始 / the first wait is base: n starts at 0",
        )

    @g.check("收到事件后重新计数 / a working connection resets the backoff")
    def _() -> None:
        sleeps = main_run().sleeps
        expect(
            len(sleeps) == 4,
            f"follow() waited {len(sleeps)} times ({short(sleeps)}); the server dropped or refused it 4 times",
            "每次断线或被拒绝后等一次 / wait once after each drop or refusal",
        )
        expect(
            abs(sleeps[3] - BASE) < 1e-9,
            f"after a connection that delivered events, the next drop waited {sleeps[3]:g} s (expected base = {BASE})",
            "收到事件后把失败次数归零 / set the failure count back to 0 when an event arrives",
        )

    @g.check("结束后挂断，不再重拨 / hangs up when the job is over")
    def _() -> None:
        attempts = main_run().attempts
        expect(
            len(attempts) == len(script),
            f"the client made {len(attempts)} connection attempts; the job was over after attempt {len(script)}",
            "收到终态事件就 return，不要再重拨 / return after the terminal event; do not redial",
        )
        expect(
            attempts[-1].client_closed is True,
            "after the terminal event the client kept the line open",
            "收到终态事件后离开 async with（它会关闭连接） / leave the async with block: it closes the connection",
        )

    @g.check("放弃时说清楚 / gives up after max_reconnects, with capped waits")
    def _() -> None:
        down = [Step("reject")] * 10
        outcome = run_client(module, events, down, base=0.5, cap=2.0, max_reconnects=5)
        if outcome.error is not None and not isinstance(outcome.error, ConnectionError):
            _raise_client_error(
                outcome,
                module,
                "重拨 max_reconnects 次后抛出 ConnectionError / raise ConnectionError after max_reconnects redials",
            )
        expect(
            isinstance(outcome.error, ConnectionError),
            f"with the server down, follow() returned {short(outcome.result)} instead of raising ConnectionError",
            "重拨 max_reconnects 次仍失败就 raise ConnectionError(...) / raise ConnectionError after max_reconnects",
        )
        expect(
            len(outcome.attempts) == 6,
            f"with max_reconnects=5 the client tried {len(outcome.attempts)} times (expected 6: the first call and 5 redials)",
            "第一次连接不算重拨 / the first connect is not a redial",
        )
        want = [0.5, 1.0, 2.0, 2.0, 2.0]
        expect(
            outcome.sleeps == want,
            f"with base=0.5, cap=2 it waited {short(outcome.sleeps)}; expected {want}",
            "每次等待不超过 cap：min(cap, base * 2 ** n) / no wait exceeds the cap",
        )
