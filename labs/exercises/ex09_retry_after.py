"""练习 9：听从 Retry-After 的客户端 / Exercise 9: a client that honours Retry-After

课程 / lesson: notebooks/13_backpressure.ipynb
检查 / check:  python -m labs check ex09

中文
----
分拣中心满了，门口的取号机会说“请 3 秒后再来”：这就是 HTTP 429（Too Many Requests）和它的
``Retry-After`` 头。全班共用一台服务器时，实验室的 API 会对提交太快的人回 429（令牌桶限流）。
写 ``submit_all(client, jobs)``：把 ``jobs`` 里的每个任务都交给 API，一个都不少、一个都不多，
并且被拒绝时按服务器说的时间等待。

- ``client`` 是一个 ``httpx.Client``（已经设好了 API 的地址）；提交一个任务：
  ``client.post("/tasks", json=job)``，其中 ``job`` 形如 ``{"task": "noop", "params": {...}}``；
  成功是 202，回复的 JSON 里 ``"id"`` 是任务 ID；
- 回复 429：读 ``Retry-After`` 头（整数秒），用参数 ``sleep`` 等这么久（``sleep(秒数)``），再提交
  **同一个**任务（被拒绝的任务没有进队列，所以要再交一次；已经交成功的不要再交）；
- 其它 4xx（例如 422：参数不对、任务不存在）：等多久都不会变好——不要重试，抛出异常
  （``response.raise_for_status()`` 就会抛 ``httpx.HTTPStatusError``）；
- 没被拒绝时不要等；
- 按 ``jobs`` 的顺序返回任务 ID 的列表。

English
-------
When the sorting centre is full, the ticket machine at the door says "come back in 3 s": that
is HTTP 429 (Too Many Requests) and its ``Retry-After`` header. With a whole class on one server,
the lab's API answers 429 to whoever submits too fast (a token bucket). Write
``submit_all(client, jobs)``: hand every job in ``jobs`` to the API, none lost and none twice,
waiting as long as the server says whenever it refuses.

- ``client`` is an ``httpx.Client`` (its base URL is the API's); submit one job with
  ``client.post("/tasks", json=job)``, ``job`` being like ``{"task": "noop", "params": {...}}``;
  success is 202, and the reply's JSON ``"id"`` is the job id;
- a 429: read the ``Retry-After`` header (whole seconds), wait that long with the ``sleep``
  argument (``sleep(seconds)``), then submit **the same** job again (a refused job did not enter
  the queue, so it must be sent again; one already accepted must not be);
- any other 4xx (a 422: bad params, an unknown task): waiting will not help; do not retry, raise
  (``response.raise_for_status()`` raises ``httpx.HTTPStatusError``);
- do not wait when nothing refused you;
- return the job ids, in the order of ``jobs``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx


def submit_all(client: httpx.Client, jobs: list[dict[str, Any]], *, sleep: Callable[[float], Any] = time.sleep) -> list[str]:
    """Submit every job once, waiting ``Retry-After`` seconds after each 429; the ids in order."""
    raise NotImplementedError("写在这里 / your code here")
