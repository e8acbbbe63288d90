"""Checks for exercise 8: WebSocket, SSE or polling, against the seed's selection advice."""

from __future__ import annotations

import copy
from types import ModuleType
from typing import Any

from ..grading import Fail, Grader, expect, short

LIMIT = 10.0
CHOICES = ("websocket", "sse", "polling")

# The seed's advice (技术选型对比 and its three scenarios), by scenario name.
SEED = {
    "progress_bar": "sse",  # 进度推送：用SSE（单向通信足够）
    "chat": "websocket",  # 聊天应用：用WebSocket（需要双向通信）
    "notifications": "sse",  # 实时通知：用SSE（简单易用）
    "collaboration": "websocket",  # 实时协作：用WebSocket（需要双向互动）
    "document_batch": "websocket",  # 场景1：Celery + WebSocket
    "agent_reasoning": "sse",  # 场景2：ARQ + SSE
    "batch_summaries": "polling",  # 场景3：Celery + 数据库轮询
}

UNSEEN: list[dict[str, Any]] = [
    {"name": "stock_ticker", "zh": "股票行情看板", "en": "a live stock ticker", "client_sends": False, "watched_live": True},
    {
        "name": "multiplayer_quiz",
        "zh": "课堂抢答：学生抢答、老师出题",
        "en": "a classroom buzzer quiz",
        "client_sends": True,
        "watched_live": True,
    },
    {
        "name": "nightly_export",
        "zh": "每晚导出报表，第二天早上看结果",
        "en": "a nightly export, looked at next morning",
        "client_sends": False,
        "watched_live": False,
    },
    {
        "name": "video_transcode",
        "zh": "视频转码进度条",
        "en": "a video transcoding progress bar",
        "client_sends": False,
        "watched_live": True,
    },
    {"name": "whiteboard", "zh": "共享白板：大家一起画", "en": "a shared whiteboard", "client_sends": True, "watched_live": True},
    {
        "name": "invoice_batch",
        "zh": "批量开发票，几分钟后刷新看看",
        "en": "a batch of invoices, refreshed every few minutes",
        "client_sends": False,
        "watched_live": False,
    },
]

KEYWORDS = {
    "websocket": (
        "双向",
        "互相",
        "全双工",
        "bidirectional",
        "bi-directional",
        "two-way",
        "two way",
        "both ways",
        "both directions",
        "full-duplex",
        "full duplex",
    ),
    "sse": (
        "单向",
        "推送",
        "one-way",
        "one way",
        "push",
        "server-to-client",
        "server to client",
        "服务器→客户端",
        "only listens",
        "只听",
    ),
    "polling": (
        "简单",
        "不频繁",
        "偶尔",
        "低频",
        "隔一阵",
        "隔几秒",
        "不需要实时",
        "simple",
        "infrequent",
        "occasional",
        "now and then",
        "every few",
        "rarely",
        "not real-time",
        "no need for real-time",
        "periodic",
    ),
}

WHY = {
    "websocket": "页面也要不断发消息给服务器：要双向，像打电话 → WebSocket / the page talks back too: two-way, a phone call",
    "sse": "只要服务器往浏览器推，单向就够，SSE 更简单、会自动重连，像广播 / one-way push is enough: SSE is simpler and "
    "reconnects by itself, a radio",
    "polling": "没人盯着看、变化不频繁：隔一阵问一次（轮询）最简单 / nobody watches, changes are infrequent: asking now and then "
    "(polling) is simplest",
}
PROPERTY = {"websocket": "bidirectional / 双向", "sse": "one-way push / 单向推送", "polling": "simple, infrequent / 简单、不频繁"}

REQUIRED = ("choose", "SCENARIOS")
"""What the exercise file must define."""


def _answer(module: ModuleType, scenario: dict[str, Any]) -> tuple[str, str]:
    got = module.choose(copy.deepcopy(scenario))
    name = scenario["name"]
    expect(
        isinstance(got, tuple | list) and len(got) == 2,
        f"choose({name}) returned {short(got)}",
        'return a pair: ("sse", "reason ...")',
    )
    choice, reason = got
    expect(
        isinstance(choice, str) and choice in CHOICES,
        f"choose({name}) chose {choice!r}",
        'choice 是 "websocket"、"sse" 或 "polling"（小写） / the choice is "websocket", "sse" or "polling" (lower case)',
    )
    expect(
        isinstance(reason, str) and len(reason.strip()) >= 4,
        f"choose({name}) gave the reason {reason!r}",
        "用一句话说明理由 / give the reason in one sentence",
    )
    return choice, reason


def _want(scenario: dict[str, Any]) -> str:
    if scenario["client_sends"]:
        return "websocket"
    return "sse" if scenario["watched_live"] else "polling"


def check(module: ModuleType, g: Grader) -> None:
    scenarios = list(module.SCENARIOS) if isinstance(getattr(module, "SCENARIOS", None), list) else []

    @g.check("返回（选择，理由） / returns (choice, reason)", limit=LIMIT)
    def _() -> None:
        expect(scenarios, "the exercise file has no SCENARIOS list", "不要删掉 SCENARIOS / keep the SCENARIOS list")
        for scenario in scenarios:
            _answer(module, scenario)

    @g.check("种子文档的建议 / the seed's advice", limit=LIMIT)
    def _() -> None:
        for scenario in scenarios:
            want = SEED.get(scenario["name"]) or _want(scenario)
            choice, _ = _answer(module, scenario)
            if choice != want:
                raise Fail(f"for {scenario['name']} ({scenario['zh']}) you chose {choice}; the seed says {want}", WHY[want])

    @g.check("理由说到点子上 / each reason names the deciding property", limit=LIMIT)
    def _() -> None:
        for scenario in scenarios:
            choice, reason = _answer(module, scenario)
            if choice != _want(scenario):
                continue  # a wrong choice was reported above
            text = reason.lower()
            expect(
                any(word in text for word in KEYWORDS[choice]),
                f"the reason for {scenario['name']} ({choice}) was {reason!r}",
                f"说出决定性的性质：{PROPERTY[choice]} / name the deciding property: {PROPERTY[choice]}",
            )

    @g.check("按性质判断，不看名字 / decides by the properties, also for new scenarios", limit=LIMIT)
    def _() -> None:
        for scenario in UNSEEN:
            choice, _ = _answer(module, scenario)
            want = _want(scenario)
            if choice != want:
                raise Fail(
                    f"for a scenario you have not seen, {scenario['name']} ({scenario['zh']}: client_sends="
                    f"{scenario['client_sends']}, watched_live={scenario['watched_live']}), you chose {choice}",
                    f"用 client_sends 和 watched_live 来判断，不要按名字 / decide from client_sends and watched_live; "
                    f"{WHY[want]}",
                )
