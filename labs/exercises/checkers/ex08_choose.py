"""Checks for exercise 8: WebSocket, SSE or polling, against the seed's selection advice; RQ, Celery or ARQ,
against what the chosen engine does when measured (real worker processes, the lab's event log)."""

from __future__ import annotations

import copy
import importlib.metadata
from types import ModuleType
from typing import Any

from ...lessons import race
from ...session import LabSession
from ...settings import environment
from ..grading import Fail, Grader, expect, short
from ..runner import broker_url

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

ENGINES = ("rq", "celery", "arq")
IO_JOBS = 20
"""Jobs of one wait each, submitted together to one worker process of the chosen engine."""
IO_SCALE = "0.2"
"""One wait is 0.2 s: long against a loaded machine's own delays (at 0.05, ARQ's 20 jobs took 12.6 waits under load)."""
IO_MAX_WAITS = 10.0
"""An io_bound need: those jobs overlapped, in at most this many waits (one at a time takes about 20)."""
START_MAX_MS = 100.0
"""A start_now need: median milliseconds from submit to ``started`` (real time, LAB_TIME_SCALE=1)."""
START_JOBS = 12
"""Enough that ARQ's median, met at random phases of its 0.5 s poll, is under 100 ms less than once in 200 runs."""
MONITORS = {"celery": "flower", "rq": "rq-dashboard", "arq": ""}
"""The web monitor each engine's users install (ARQ has none); the check asks which is installed here."""

UNSEEN_NEEDS: list[dict[str, Any]] = [
    {"name": "crawler", "zh": "爬虫：一千个网页，每个都在等网络",
     "en": "a crawler: a thousand pages, each waiting on the network",
     "io_bound": True, "start_now": False, "web_monitor": False},
    {"name": "kiosk", "zh": "自助机：按下按钮，马上打印小票",
     "en": "a kiosk: press the button, the receipt prints at once",
     "io_bound": False, "start_now": True, "web_monitor": False},
    {"name": "nightly", "zh": "每晚清理一次旧文件",
     "en": "clean up old files once a night",
     "io_bound": False, "start_now": False, "web_monitor": False},
]  # fmt: skip

_measured: dict[tuple[str, str], float] = {}
"""(engine, what) -> figure: an engine is measured once per process, whoever's answer asks."""

REQUIRED = ("choose", "SCENARIOS")
"""What the exercise file must define (part two's ``choose_engine`` and ``NEEDS`` are checked by its own checks)."""


def _answer(module: ModuleType, scenario: dict[str, Any]) -> tuple[str, str]:
    got = module.choose(copy.deepcopy(scenario))
    return _pair("choose", scenario["name"], got, CHOICES, "sse", ("choice 是", "the choice is"))


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

    needs = list(module.NEEDS) if isinstance(getattr(module, "NEEDS", None), list) else []
    engines: dict[str, str] = {}

    @g.check("choose_engine 返回（引擎，理由） / choose_engine returns (engine, reason)", limit=LIMIT)
    def _() -> None:
        expect(
            callable(getattr(module, "choose_engine", None)),
            "the exercise file has no choose_engine (part two)",
            "写第二部分：choose_engine(need) / write part two: choose_engine(need)",
        )
        expect(needs, "the exercise file has no NEEDS list", "不要删掉 NEEDS / keep the NEEDS list")
        for need in [*needs, *UNSEEN_NEEDS]:
            engines[need["name"]] = _engine_answer(module, need)

    @g.check("测出来满足需要 / the engine you chose meets each need, measured")
    def _() -> None:
        expect(engines, "choose_engine did not answer (see the check above)", "先让 choose_engine 跑通 / make it work first")
        for need in needs:
            _meets(need, engines[need["name"]])

    @g.check("没见过的需要也测 / new needs, measured too")
    def _() -> None:
        expect(engines, "choose_engine did not answer (see the check above)", "先让 choose_engine 跑通 / make it work first")
        for need in UNSEEN_NEEDS:
            _meets(need, engines[need["name"]])


def _engine_answer(module: ModuleType, need: dict[str, Any]) -> str:
    got = module.choose_engine(copy.deepcopy(need))
    return _pair("choose_engine", need["name"], got, ENGINES, "rq", ("引擎是", "the engine is"))[0]


def _pair(call: str, name: str, got: Any, allowed: tuple[str, ...], example: str, says: tuple[str, str]) -> tuple[str, str]:
    """A student's ``(choice, reason)``: a pair, a choice among ``allowed``, a reason of one sentence."""
    expect(isinstance(got, tuple | list) and len(got) == 2, f"{call}({name}) returned {short(got)}",
           f'return a pair: ("{example}", "reason ...")')  # fmt: skip
    choice, reason = got
    zh, en = "、".join(f'"{a}"' for a in allowed[:-1]) + f' 或 "{allowed[-1]}"', ", ".join(f'"{a}"' for a in allowed[:-1])
    expect(isinstance(choice, str) and choice in allowed, f"{call}({name}) chose {choice!r}",
           f"{says[0]} {zh}（小写） / {says[1]} {en} or \"{allowed[-1]}\" (lower case)")  # fmt: skip
    expect(isinstance(reason, str) and len(reason.strip()) >= 4, f"{call}({name}) gave the reason {reason!r}",
           "用一句话说明理由 / give the reason in one sentence")  # fmt: skip
    return choice, reason


def _session(engine: str, scale: str) -> Any:
    """The checks' own broker (no process left behind), the engine's own queue, and the clock for the measurement."""
    return environment(REDIS_URL=broker_url(), LAB_TIME_SCALE=scale, LAB_QUEUE=f"check-ex08-{engine}")


def io_waits(engine: str) -> float:
    """How many waits ``IO_JOBS`` one-wait jobs take on one worker process of ``engine`` (measured once)."""
    if (engine, "io") not in _measured:
        with _session(engine, IO_SCALE), LabSession(workers=1, kind=race.KINDS[engine], engine=engine) as lab:
            _measured[engine, "io"] = race.io_wall(lab, IO_JOBS)[1]
    return _measured[engine, "io"]


def start_ms(engine: str) -> float:
    """Median milliseconds from submit to ``started`` on an idle worker of ``engine`` (measured once)."""
    if (engine, "start") not in _measured:
        with _session(engine, "1"), LabSession(workers=1, kind=race.KINDS[engine], engine=engine) as lab:
            _measured[engine, "start"] = race.start_latency(lab, START_JOBS, gap=0.05)[0]
    return _measured[engine, "start"]


def monitor(engine: str) -> str:
    """The web monitor installed here for ``engine``, or ''."""
    dist = MONITORS[engine]
    if not dist:
        return ""
    try:
        importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return ""
    return dist


def _meets(need: dict[str, Any], engine: str) -> None:
    name = f"{need['name']} ({need['zh']})"
    if need.get("io_bound"):
        waits = io_waits(engine)
        expect(
            waits <= IO_MAX_WAITS,
            f"for {name} you chose {engine}: {IO_JOBS} jobs that each wait once took {waits:.1f} waits on one {engine} "
            f"worker process (measured just now); the need is to overlap them, at most {IO_MAX_WAITS:g} waits",
            "RQ 的一个 Worker、Celery 的 solo 池一次只做一件；ARQ 的事件循环同时等 max_jobs 件 / one RQ worker or "
            "Celery solo pool runs one job at a time; ARQ's event loop waits on max_jobs of them together",
        )
    if need.get("start_now"):
        ms = start_ms(engine)
        expect(
            ms <= START_MAX_MS,
            f"for {name} you chose {engine}: its jobs started {ms:.0f} ms after submit (median of {START_JOBS}, "
            f"measured just now); the need is at most {START_MAX_MS:g} ms",
            "ARQ 每 0.5 秒才看一次队列（poll_delay）；RQ 和 Celery 阻塞等待，作业马上开始 / ARQ looks at its queue "
            "every 0.5 s (poll_delay); RQ and Celery block on it and start a job at once",
        )
    if need.get("web_monitor"):
        why = "ARQ has none" if engine == "arq" else f"{MONITORS[engine]} is not installed; RQ ships `rq info`, a command line"
        expect(
            monitor(engine),
            f"for {name} you chose {engine}: no web monitor for {engine} is installed here ({why})",
            "Celery 的 Flower 就是种子文档“监控”一行写的 / Celery's Flower is the seed table's monitoring row",
        )
