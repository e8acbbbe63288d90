"""练习 6：会自动重拨、能续传的 WebSocket 客户端 / Exercise 6: a WebSocket client that reconnects and resumes

课程 / lesson: notebooks/07_websocket.ipynb
检查 / check:  python -m labs check ex06

中文
----
WebSocket 像打电话（类比2）：双向、实时。可电话会掉线，掉线了得自己重拨——浏览器不会替你做
（SSE 的 EventSource 会自动重连，WebSocket 不会）。写 ``follow(url)``：连上服务器，收下一个任务的
全部事件；断线了就按指数退避等一会儿再重拨，重拨后告诉服务器“我收到哪一条了”，从那之后接着收。

协议（和实验室自己的 API ``labs/api/ws.py`` 用同样的消息）：

- 每次连上以后，先发 ``{"action": "resume", "after": 最后收到的事件 id}``（第一次是 ``None``）；
- 服务器发来的每条消息都是 JSON，用 ``type`` 区分：
  ``{"type": "event", "id": ..., "event": ..., "state": ..., ...}`` 是一个任务事件；
  其它（``"snapshot"``、``"ack"``、``"heartbeat"`` 心跳、``"end"``……）都不是事件，跳过；
- 服务器可能把你已经收到的事件再发一遍（“至少一次”投递）：``id`` 已经收到过的事件跳过；
- 收到 ``state`` 是 ``completed`` 或 ``failed`` 的事件后任务就结束了：关闭连接（离开 ``async with``
  就会关闭），返回收到的全部事件（按顺序，每个一次）；
- 连不上或中途断开（``OSError``、``websockets.exceptions.WebSocketException``，包括
  ``ConnectionClosed`` 和服务器拒绝时的 ``InvalidStatus``），或者服务器在任务结束前关闭了连接
  → 等一会儿再重拨：自从上次收到事件以来第 n 次失败（n 从 0 开始）等 ``min(cap, base * 2 ** n)`` 秒；
  收到新事件以后 n 归零；
- 用参数 ``sleep`` 来等（``await sleep(delay)``）：检查程序会记下你每次等了多久；
- 最多重拨 ``max_reconnects`` 次，再失败就抛出 ``ConnectionError``。

（连接是否还活着，websockets 库会自动发 ping 帧检查；服务器的 ``heartbeat`` 消息是给人看的“还在线”。）

English
-------
WebSocket is a phone call (analogy 2): two-way and live. But calls drop, and you must redial
yourself: the browser will not (SSE's EventSource reconnects by itself, WebSocket does not).
Write ``follow(url)``: connect, receive all of a job's events; when the line drops, wait with
exponential backoff and redial, then tell the server which event you got last and carry on
from there.

The protocol (the same messages as the lab's own API, ``labs/api/ws.py``):

- after each connect, first send ``{"action": "resume", "after": <id of the last event received>}``
  (``None`` the first time);
- every message from the server is JSON, told apart by ``type``:
  ``{"type": "event", "id": ..., "event": ..., "state": ..., ...}`` is a job event;
  anything else (``"snapshot"``, ``"ack"``, ``"heartbeat"``, ``"end"``, ...) is not: skip it;
- the server may send an event you already have again (at-least-once delivery): skip an event
  whose ``id`` you already received;
- after an event whose ``state`` is ``completed`` or ``failed`` the job is over: close the
  connection (leaving ``async with`` does that) and return every event received (in order, each
  once);
- when a connect fails or the connection drops (``OSError``,
  ``websockets.exceptions.WebSocketException``, which covers ``ConnectionClosed`` and the
  ``InvalidStatus`` of a server that refuses), or the server closes before the job is over: wait,
  then redial. The n-th failure since the last new event (n from 0) waits
  ``min(cap, base * 2 ** n)`` seconds; a new event sets n back to 0;
- wait with the ``sleep`` argument (``await sleep(delay)``): the check records every wait;
- redial at most ``max_reconnects`` times, then raise ``ConnectionError``.

(The websockets library checks that the line is alive by itself, with ping frames; the server's
``heartbeat`` messages are the human-readable "still here".)
"""

from __future__ import annotations

import asyncio
import json  # noqa: F401 - 你会用到它 / you will need it
from collections.abc import Awaitable, Callable
from typing import Any

import websockets  # noqa: F401
from websockets.asyncio.client import connect  # noqa: F401


async def follow(
    url: str,
    *,
    base: float = 0.5,
    cap: float = 8.0,
    max_reconnects: int = 10,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> list[dict[str, Any]]:
    """Every event of the job at ``url``, each once, redialling with backoff when the line drops."""
    raise NotImplementedError("写在这里 / your code here")
