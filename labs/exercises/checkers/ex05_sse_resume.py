"""Checks for exercise 5: the student's generator inside a real Starlette SSE app, streamed with TestClient.

The app serves ``GET /jobs/{job_id}/events`` with sse-starlette's
``EventSourceResponse`` around the student's ``job_stream``; the client is
Starlette's ``TestClient`` (it streams; httpx's ASGITransport would buffer) read
with httpx-sse, which is what a browser's ``EventSource`` does. The events are
those of real jobs run by the lab's worker on the embedded broker.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..grading import Fail, Grader, expect, one_line, short, where
from ..runner import ExerciseLab

ITEM_TIMEOUT = 3.0
"""Seconds the server waits for the student's next message before it ends the stream."""
MAX_MESSAGES = 500

REQUIRED = ("job_stream",)
"""What the exercise file must define."""


@dataclass
class Guard:
    """What happened on the server side of one stream."""

    timed_out: bool = False
    error: BaseException | None = None
    sent: int = 0


@dataclass
class Received:
    messages: list[Any] = field(default_factory=list)
    guard: Guard = field(default_factory=Guard)

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.messages]


async def _guarded(source: Any, guard: Guard) -> AsyncIterator[dict[str, Any]]:
    """The student's messages, ended after a silence of ITEM_TIMEOUT s or an error (recorded in ``guard``)."""
    try:
        iterator = source.__aiter__()
    except Exception as exc:
        guard.error = exc
        return
    try:
        while guard.sent < MAX_MESSAGES:
            try:
                item = await asyncio.wait_for(iterator.__anext__(), ITEM_TIMEOUT)
            except StopAsyncIteration:
                return
            except TimeoutError:
                guard.timed_out = True
                return
            except Exception as exc:
                guard.error = exc
                return
            if not isinstance(item, dict):
                guard.error = TypeError(f"job_stream yielded {short(item)}, not a dict with id, event and data")
                return
            guard.sent += 1
            yield item
    finally:
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            try:
                await closer()
            except Exception as exc:  # an error while closing is the student's too
                guard.error = guard.error or exc


class Stream:
    """The app around the student's generator, and a client that reads it the way EventSource does."""

    def __init__(self, module: ModuleType, lab: ExerciseLab) -> None:
        from sse_starlette import EventSourceResponse
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.routing import Route

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # starlette's note about httpx versions
            from starlette.testclient import TestClient

        self.guards: list[Guard] = []

        async def endpoint(request: Request) -> EventSourceResponse:
            guard = Guard()
            self.guards.append(guard)
            last = request.headers.get("last-event-id") or None
            source = module.job_stream(lab.conn, request.path_params["job_id"], last)
            return EventSourceResponse(_guarded(source, guard), ping=3600)

        self.client = TestClient(Starlette(routes=[Route("/jobs/{job_id}/events", endpoint)]))

    @contextmanager
    def open(self, job_id: str, last_event_id: str | None = None) -> Iterator[Iterator[Any]]:
        from httpx_sse import connect_sse

        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        with connect_sse(self.client, "GET", f"/jobs/{job_id}/events", headers=headers) as source:
            yield (sse for sse in source.iter_sse() if sse.data)  # skip keep-alive pings

    def read(self, job_id: str, last_event_id: str | None = None) -> Received:
        """Read the whole stream (until the server ends it)."""
        with self.open(job_id, last_event_id) as messages:
            got = list(messages)
        return Received(got, self.guards[-1])


def _server_problem(received: Received, module: ModuleType) -> None:
    """Fail with the student's error or a silence, if the server side had one."""
    guard = received.guard
    if guard.error is not None:
        if isinstance(guard.error, NotImplementedError):
            raise guard.error
        if isinstance(guard.error, TypeError) and "not a dict" in str(guard.error):
            raise Fail(str(guard.error), 'yield {"id": event.id, "event": event.event, "data": json.dumps(event.to_dict())}')
        location = where(guard.error, module)
        at = f" (line {location[1]})" if location else ""
        raise Fail(
            f"job_stream raised {one_line(guard.error)}{at} after {guard.sent} message(s)",
            "job_stream 必须是异步生成器（async def + yield） / job_stream must be an async generator (async def ... yield)"
            if "__aiter__" in str(guard.error) or "async for" in str(guard.error)
            else "",
        )


def _compare(got: list[str], want: list[str], what: str) -> None:
    if got == want:
        return
    dupes = sorted({i for i in got if got.count(i) > 1})
    missing = [i for i in want if i not in got]
    if dupes:
        raise Fail(
            f"{what}: {len(got)} messages with duplicates {dupes[:3]}; expected {len(want)}",
            "每条只发一次：从游标之后读，发完一条就把游标移到它 / send each event once: read after the cursor, "
            "and move the cursor to each event you send",
        )
    raise Fail(
        f"{what}: got ids {short(got, 200)}, expected {short(want, 200)} (missing {len(missing)})",
        "从 last_event_id 之后开始，不重复不遗漏 / carry on right after last_event_id: no repeats, no gaps",
    )


def check(module: ModuleType, g: Grader) -> None:
    expect_gen = inspect.isasyncgenfunction(getattr(module, "job_stream", None))
    lab = ExerciseLab()
    done = lab.submit("slow_task", {"steps": 4, "step_seconds": 0.05})
    lab.run()
    stored = [e.id for e in lab.events(done)]
    stream = Stream(module, lab)

    @g.check("从头播放 / the whole story, from the start")
    def _() -> None:
        expect(
            expect_gen,
            "job_stream is not an async generator function",
            "用 async def 定义，并用 yield 产出消息 / define it with async def and yield each message",
        )
        received = stream.read(done)
        _server_problem(received, module)
        expect(
            received.messages,
            f"the stream of a finished job with {len(stored)} events sent nothing",
            "用 events.job_events(conn, job_id, after=...) 读事件，逐条 yield / read events.job_events(...) and yield each",
        )
        missing_id = [m for m in received.messages if not m.id]
        expect(
            not missing_id,
            f"{len(missing_id)} of {len(received.messages)} messages had no id: field",
            '每条消息都要带 id（浏览器靠它续传）：{"id": event.id, ...} / every message needs its id: EventSource '
            "resumes from it",
        )
        _compare(received.ids, stored, "streaming a finished job from the start")
        names = [m.event for m in received.messages]
        want_names = [e.event for e in lab.events(done)]
        expect(
            names == want_names, f"the event: fields were {short(names)}, expected {short(want_names)}", '"event": event.event'
        )
        data = json.loads(received.messages[-1].data)
        expect(
            isinstance(data, dict) and data.get("id") == stored[-1] and data.get("state") == "completed",
            f"the last message's data was {short(received.messages[-1].data)}",
            '"data": json.dumps(event.to_dict())',
        )
        expect(
            not received.guard.timed_out,
            "the stream did not end after the job had completed",
            "最后一个事件是终态（event.terminal）时 return / return once the last event sent is terminal",
        )

    @g.check("从 Last-Event-ID 续传 / resume after Last-Event-ID: no gap, no duplicate")
    def _() -> None:
        received = stream.read(done, last_event_id=stored[2])
        _server_problem(received, module)
        if received.ids == stored:
            raise Fail(
                f"with Last-Event-ID: {stored[2]} the stream started again from the first event",
                "从 last_event_id 之后开始：events.job_events(conn, job_id, after=last_event_id) / "
                "start after last_event_id: job_events(..., after=last_event_id)",
            )
        if received.ids[:1] == [stored[2]]:
            raise Fail(
                f"with Last-Event-ID: {stored[2]} the stream sent that event again (a duplicate)",
                "after= 不包含它本身；不要用包含它的 xrange(min=...) / after= excludes the id itself: "
                "do not read with an inclusive range",
            )
        _compare(received.ids, stored[3:], f"resuming after event 3 of {len(stored)}")
        after_end = stream.read(done, last_event_id=stored[-1])
        _server_problem(after_end, module)
        expect(
            not after_end.messages and not after_end.guard.timed_out,
            f"a client that came back after the end got {len(after_end.messages)} message(s) and "
            f"{'a stream that never ended' if after_end.guard.timed_out else 'then the end'}",
            "没有新事件而任务已结束（events.current_state 是终态）就 return / nothing new and the job is over "
            "(events.current_state is terminal): return",
        )

    @g.check("边跑边推送 / live: new events are pushed while the job runs")
    def _() -> None:
        job = lab.submit("slow_task", {"steps": 3, "step_seconds": 0.05})  # only enqueued so far
        with stream.open(job) as messages:
            first = next(messages, None)
            expect(
                first is not None,
                "the stream of a job waiting in the queue sent nothing (not even 'enqueued')",
                "先把已有的事件发出去 / send the events that are already there first",
            )
            lab.run()  # the worker runs the job now, while the stream is open
            rest = list(messages)
        received = Received([first, *rest], stream.guards[-1])
        _server_problem(received, module)
        want = [e.id for e in lab.events(job)]
        expect(
            len(received.messages) > 1 or received.guard.timed_out,
            "the stream ended right after 'enqueued', before the job even started",
            "没有新事件时 await asyncio.sleep(poll) 再查，直到任务结束 / when nothing is new, await asyncio.sleep(poll) "
            "and look again until the job is over",
        )
        expect(
            not received.guard.timed_out,
            "the stream did not end after the job completed",
            "最后一个事件是终态（event.terminal）时 return / return once the last event sent is terminal",
        )
        _compare(received.ids, want, "streaming a job live")

    @g.check("断线重连 / reconnect after a dropped connection")
    def _() -> None:
        job = lab.submit("slow_task", {"steps": 3, "step_seconds": 0.05})
        with stream.open(job) as messages:
            first = next(messages, None)  # then the connection drops
        expect(
            first is not None and first.id,
            "the first connection sent no message with an id",
            "每条消息都要带 id / every message needs its id",
        )
        assert first is not None
        lab.run()  # the job runs while the browser is away
        second = stream.read(job, last_event_id=first.id)  # EventSource reconnects with Last-Event-ID
        _server_problem(second, module)
        want = [e.id for e in lab.events(job)]
        _compare([first.id, *second.ids], want, "one message, a dropped connection, then a reconnect with Last-Event-ID")
