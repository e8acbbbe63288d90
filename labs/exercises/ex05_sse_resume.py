"""练习 5：能从 Last-Event-ID 续传的 SSE / Exercise 5: an SSE stream that resumes from Last-Event-ID

课程 / lesson: notebooks/08_sse.ipynb
检查 / check:  python -m labs check ex05

中文
----
SSE 像广播电台（类比3）：服务器单向推送。浏览器的 ``EventSource`` 断线后会自动重连，并在请求头
``Last-Event-ID`` 里带上它收到的最后一条消息的 id。服务器要从那一条之后接着播：
不重播（重复），也不跳过（丢失）。

写异步生成器 ``job_stream(conn, job_id, last_event_id)``，为一个任务产出 SSE 消息：

- 实验室把任务的每个事件存在 Redis Stream 里（``labs.events``），每个事件有唯一、递增的 id
  （比如 ``"1718000000000-0"``）。``events.job_events(conn, job_id, after=id)`` 返回这个 id
  **之后**的事件（不含它本身）；``after=None`` 返回全部；
- 每条消息是一个字典 ``{"id": event.id, "event": event.event, "data": json.dumps(event.to_dict())}``。
  一定要带 ``id``：浏览器就是靠它续传的；
- 从 ``last_event_id`` 之后开始（``None`` 表示从头开始），每发一条就记住它的 id；
- 暂时没有新事件时，``await asyncio.sleep(poll)`` 等一会儿再查（不要 ``time.sleep``，它会卡住整个服务器）；
- 任务结束后停止：发完一批事件后，如果最后一个事件是终态（``event.terminal``）就 ``return``；
  如果一个新事件都没有，而任务已经结束了（``events.current_state(conn, job_id)`` 是
  ``completed`` 或 ``failed``），也 ``return``——比如浏览器在结束以后才来续传。

检查程序会把你的生成器放进一个真正的 Starlette 应用（``EventSourceResponse``），用真正的任务
测试：从头播放、从中间续传、边跑边推送、断线重连。

English
-------
SSE is a radio station (analogy 3): the server pushes, one way. After a dropped connection the
browser's ``EventSource`` reconnects by itself and sends the id of the last message it received
in the ``Last-Event-ID`` header. The server must carry on right after it: no repeats
(duplicates), no skips (gaps).

Write the async generator ``job_stream(conn, job_id, last_event_id)`` that yields a job's SSE
messages:

- the lab keeps every event of a job in a Redis stream (``labs.events``); each has a unique,
  increasing id (like ``"1718000000000-0"``). ``events.job_events(conn, job_id, after=id)``
  returns the events **after** that id (not including it); ``after=None`` returns them all;
- each message is a dict ``{"id": event.id, "event": event.event, "data": json.dumps(event.to_dict())}``.
  Always send the ``id``: it is what the browser resumes from;
- start after ``last_event_id`` (``None``: from the beginning) and remember the id of each
  message you send;
- when there is nothing new, ``await asyncio.sleep(poll)`` and look again (never
  ``time.sleep``: it would freeze the whole server);
- stop when the job is over: after sending a batch, ``return`` if its last event is terminal
  (``event.terminal``); also ``return`` when there is nothing new and the job has already
  finished (``events.current_state(conn, job_id)`` is ``completed`` or ``failed``), e.g. a
  browser that comes back after the end.

The check puts your generator into a real Starlette app (``EventSourceResponse``) and tests it
on real jobs: from the start, resuming from the middle, live while the job runs, and
reconnecting after a dropped connection.
"""

from __future__ import annotations

import asyncio  # noqa: F401 - 你会用到它 / you will need it
import json  # noqa: F401
from collections.abc import AsyncIterator
from typing import Any

import redis

from labs import events  # noqa: F401


async def job_stream(
    conn: redis.Redis, job_id: str, last_event_id: str | None = None, poll: float = 0.2
) -> AsyncIterator[dict[str, Any]]:
    """The job's events as SSE messages, starting after ``last_event_id``, until the job is over."""
    raise NotImplementedError("写在这里 / your code here")
    yield {}  # 这一行让它成为异步生成器，写好后删掉 / makes this an async generator: delete it when you write yours
