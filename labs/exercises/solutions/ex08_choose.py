"""参考答案 / reference solution: exercise 8, WebSocket, SSE or polling; RQ, Celery or ARQ."""

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
    if scenario.get("client_sends"):
        return "websocket", "双向通信：页面也要随时发消息给服务器，像打电话 / bidirectional: the page talks back too"
    if scenario.get("watched_live"):
        return "sse", "单向推送就够了：服务器推、浏览器听，自动重连，像广播 / one-way push is enough, and it reconnects by itself"
    return "polling", "简单：变化不频繁，隔几秒问一次就行，不需要长连接 / simple: infrequent changes, ask every few seconds"


def choose_engine(need: dict[str, Any]) -> tuple[str, str]:
    """("rq" | "celery" | "arq", the reason in one sentence)."""
    if need.get("io_bound"):
        return "arq", "一个事件循环同时等很多个 I/O（max_jobs 个一起等） / one event loop waits on many I/O jobs together"
    if need.get("web_monitor"):
        return "celery", "Celery 有 Flower，现成的监控网页 / Celery has Flower, a ready-made monitoring web page"
    return "rq", "阻塞式取件，提交后马上开始，最简单 / a blocking pop: a job starts at once, and it is the simplest"
