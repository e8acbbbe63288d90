"""练习 8：WebSocket、SSE 还是轮询？RQ、Celery 还是 ARQ？ / Exercise 8: WebSocket, SSE or polling? RQ, Celery or ARQ?

课程 / lesson: notebooks/09_comparison.ipynb、notebooks/10_celery_arq_rq.ipynb
（还有 / and notebooks/11 的三个场景 / the three scenarios）
检查 / check:  python -m labs check ex08

中文
----
三种把进度送到浏览器的办法：

- **WebSocket** 像打电话（类比2）：双向、实时，双方都能随时说话；但要自己处理断线重拨和心跳；
- **SSE** 像广播电台（类比3）：服务器单向推送，浏览器只听；基于普通 HTTP，断线自动重连，简单；
- **轮询** 像隔一阵查一次快递物流：浏览器每隔几秒问一次“好了没？”；最简单，不需要长连接，
  适合变化不频繁、不需要立刻看到的情况（种子文档场景3：每 5 秒查一次数据库）。

种子文档的选择建议：进度推送用 SSE（单向就够），聊天用 WebSocket（需要双向），实时通知用 SSE
（简单），实时协作用 WebSocket（需要双向互动）。

写 ``choose(scenario) -> (选择, 理由)``。``scenario`` 是下面 ``SCENARIOS`` 里那样的字典：

- ``"client_sends"``：页面在任务进行中，也要通过同一条实时连接不断把消息发给服务器吗
  （聊天、协作编辑、边跑边指挥批处理）？
- ``"watched_live"``：有人正盯着页面，希望每个变化一发生就马上看到吗？

选择是 ``"websocket"``、``"sse"`` 或 ``"polling"`` 之一（小写）。理由用一句话（中文或英文都行）
说出决定性的那个性质：双向（bidirectional）、单向推送（one-way push）、或者简单/不频繁（simple, infrequent）。
要按这两个性质来判断，不要按名字：检查程序还会用你没见过的场景来测。

第二部分：选队列。写 ``choose_engine(need) -> (引擎, 理由)``，引擎是 ``"rq"``、``"celery"`` 或 ``"arq"``。
``need`` 是 ``NEEDS`` 里那样的字典，三个性质：

- ``"io_bound"``：很多作业都在等别的服务（I/O），一个 Worker 进程要把这些等待叠在一起；
- ``"start_now"``：作业提交后要马上开始（点一下按钮，课堂演示），不能等队列的下一次轮询；
- ``"web_monitor"``：运维要一个现成的网页，看每个 Worker 和每个任务（种子文档表格里的“监控”一行）。

检查程序不看关键词，而是**当场测量你选的引擎**：在真正的 Worker 进程上跑 20 个各等一次的作业、
量提交到开始的延迟、看装了哪些监控工具。你选的引擎测出来满足需要，就算对（可能不止一个答案）。
第 10 课测过的表格就是线索。

English
-------
Three ways to get progress to a browser:

- **WebSocket** is a phone call (analogy 2): two-way and live, either side may talk at any time;
  you handle redialling and heartbeats yourself;
- **SSE** is a radio station (analogy 3): the server pushes one way, the browser listens; plain
  HTTP, reconnects by itself, simple;
- **polling** is checking the parcel tracking now and then: the browser asks "done yet?" every
  few seconds; the simplest, no long-lived connection, right when changes are infrequent and
  nobody needs to see them at once (the seed's scenario 3: query the database every 5 s).

The seed's advice: progress updates: SSE (one way is enough); chat: WebSocket (two-way);
live notifications: SSE (simple); live collaboration: WebSocket (two-way interaction).

Write ``choose(scenario) -> (choice, reason)``. ``scenario`` is a dict like those in ``SCENARIOS``:

- ``"client_sends"``: while the task runs, must the page keep sending messages to the server
  over the same live connection (chat, co-editing, steering a batch as it runs)?
- ``"watched_live"``: is someone watching the page who wants to see each change as it happens?

The choice is one of ``"websocket"``, ``"sse"`` or ``"polling"`` (lower case). The reason is one
sentence (Chinese or English) that names the deciding property: bidirectional, one-way push, or
simple/infrequent. Decide from those two properties, not from the name: the check also asks
about scenarios you have not seen.

Part two, the queue. Write ``choose_engine(need) -> (engine, reason)``, the engine one of ``"rq"``,
``"celery"`` or ``"arq"``. ``need`` is a dict like those in ``NEEDS``, with three properties:

- ``"io_bound"``: many jobs that each wait on another service (I/O); one worker process should overlap the waits;
- ``"start_now"``: a job must start the moment it is submitted (a click, a demo in class), not at the queue's next poll;
- ``"web_monitor"``: operations want a ready-made web page of every worker and task (the seed table's monitoring row).

The check reads no keywords: it **measures the engine you chose**, on real worker processes — 20 jobs that
each wait once, the delay from submit to start, which monitoring tools are installed. If the engine you
chose meets the need as measured, it is right (there may be more than one right answer). Lesson 10's
measured table is the clue.
"""

from __future__ import annotations

from typing import Any

SCENARIOS: list[dict[str, Any]] = [
    {"name": "progress_bar", "zh": "上传一个 PDF 后显示处理进度条", "en": "a progress bar while one uploaded PDF is processed",
     "client_sends": False, "watched_live": True},
    {"name": "chat", "zh": "客服聊天：用户和客服互相发消息", "en": "support chat: user and agent message each other",
     "client_sends": True, "watched_live": True},
    {"name": "notifications", "zh": "站内实时通知：有新消息时右上角出现小红点",
     "en": "live notifications: a red dot on new messages", "client_sends": False, "watched_live": True},
    {"name": "collaboration", "zh": "多人同时编辑一份文档", "en": "several people editing one document at once",
     "client_sends": True, "watched_live": True},
    {"name": "document_batch", "zh": "场景1：100 个 PDF 批量处理，实时看每个文件的状态，还能边跑边取消、调整单个文件",
     "en": "scenario 1: 100 PDFs, each file's state live, files cancelled or re-prioritised as it runs",
     "client_sends": True, "watched_live": True},
    {"name": "agent_reasoning", "zh": "场景2：AI Agent 三步推理，逐步显示推理步骤",
     "en": "scenario 2: an AI agent's 3 reasoning steps shown one by one", "client_sends": False, "watched_live": True},
    {"name": "batch_summaries", "zh": "场景3：批量生成 100 篇摘要，要跑很久，用户隔一阵回来看看就行",
     "en": "scenario 3: 100 summaries generated over a long time; the user checks back now and then",
     "client_sends": False, "watched_live": False},
]  # fmt: skip


NEEDS: list[dict[str, Any]] = [
    {"name": "api_fanout", "zh": "每个作业都去调用外部 API，等它回答（I/O）；代码本来就是 async",
     "en": "each job calls an outside API and waits for its answer (I/O); the code is async already",
     "io_bound": True, "start_now": False, "web_monitor": False},
    {"name": "class_demo", "zh": "老师点一下“寄出”，全班要马上看到作业开始",
     "en": "the instructor clicks send: the class must see the job start at once",
     "io_bound": False, "start_now": True, "web_monitor": False},
    {"name": "ops_page", "zh": "运维要一个现成的网页，看每个 Worker、每个任务的状态",
     "en": "operations want a ready-made web page of every worker and task",
     "io_bound": False, "start_now": False, "web_monitor": True},
]  # fmt: skip


def choose(scenario: dict[str, Any]) -> tuple[str, str]:
    """("websocket" | "sse" | "polling", the reason in one sentence)."""
    raise NotImplementedError("写在这里 / your code here")


def choose_engine(need: dict[str, Any]) -> tuple[str, str]:
    """("rq" | "celery" | "arq", the reason in one sentence)."""
    raise NotImplementedError("写在这里 / your code here")
