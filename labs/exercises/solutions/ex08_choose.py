"""参考答案 / reference solution: exercise 8, WebSocket, SSE or polling."""

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


def choose(scenario: dict[str, Any]) -> tuple[str, str]:
    """("websocket" | "sse" | "polling", the reason in one sentence)."""
    if scenario.get("client_sends"):
        return "websocket", "双向通信：页面也要随时发消息给服务器，像打电话 / bidirectional: the page talks back too"
    if scenario.get("watched_live"):
        return "sse", "单向推送就够了：服务器推、浏览器听，自动重连，像广播 / one-way push is enough, and it reconnects by itself"
    return "polling", "简单：变化不频繁，隔几秒问一次就行，不需要长连接 / simple: infrequent changes, ask every few seconds"
