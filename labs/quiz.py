"""The review quiz (自测, lesson 12): questions whose answers come from the lab itself.

    from labs.quiz import QUESTIONS, check_answer
    check_answer("q1", "sse")     # -> ✅ 正确 / Correct ... (bilingual feedback)

Where an answer is a fact about the lab (the final states, how many deliveries
``max_retries=3`` means, what RQ's ``finished`` maps to), it is computed from the
lab's own modules, so the quiz and the code cannot disagree. Free-text answers
are compared after normalising case, spaces and a few synonyms (中文 or English).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .events import EVENT_TYPES
from .retry import RetryPolicy
from .states import TERMINAL, state_of


@dataclass(frozen=True)
class Question:
    id: str
    zh: str
    en: str
    answer: Callable[[], Any]
    """The expected answer, computed from the lab when it is a fact about the lab."""
    why_zh: str
    why_en: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Feedback:
    question: str
    correct: bool
    answered: bool
    message: str

    def __str__(self) -> str:
        return self.message

    def _repr_markdown_(self) -> str:
        return self.message


SYNONYMS: dict[str, str] = {
    "server-sent events": "sse", "eventsource": "sse", "广播": "sse", "广播电台": "sse",
    "ws": "websocket", "web socket": "websocket", "电话": "websocket", "电话通话": "websocket",
    "轮询": "polling", "poll": "polling", "数据库轮询": "polling",
    "dead-letter queue": "dlq", "dead letter queue": "dlq", "死信队列": "dlq", "退件处理中心": "dlq", "failed_tasks": "dlq",
    "yes": "yes", "y": "yes", "true": "yes", "是": "yes", "会": "yes", "有": "yes",
    "no": "no", "n": "no", "false": "no", "否": "no", "不会": "no", "没有": "no", "不": "no",
    "已签收": "completed", "成功": "completed", "派送失败": "failed", "失败": "failed",
    "redis queue": "rq", "python-rq": "rq",
}  # fmt: skip


def normalise(value: Any) -> Any:
    """Lower-case, trimmed, synonyms folded; a list, set or comma-separated text becomes a frozenset."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(normalise(v) for v in value)
    text = " ".join(str(value).strip().lower().split())
    number = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*(?:次|秒|s|seconds?|times?)?", text)
    if number:
        return float(number.group(1))
    parts = [part for part in re.split(r"\s*(?:[,，、/和]|\band\b)\s*", text) if part]
    if len(parts) > 1:
        return frozenset(normalise(part) for part in parts)
    return SYNONYMS.get(text, text)


QUESTIONS: dict[str, Question] = {
    q.id: q
    for q in (
        Question(
            "q1", "给用户推送任务进度，种子文档建议用哪种通道？", "Which channel does the seed advise for pushing task progress?",
            lambda: "sse",
            "进度推送是单向的（服务器→客户端），SSE 足够，还会自动重连。",
            "Progress flows one way (server to client): SSE is enough, and it reconnects by itself.",
            ("websocket", "sse", "polling"),
        ),
        Question(
            "q2", "聊天应用呢？", "And a chat application?",
            lambda: "websocket",
            "聊天需要双向实时通信，像打电话。", "Chat needs two-way real-time talk, like a phone call.",
            ("websocket", "sse", "polling"),
        ),
        Question(
            "q3", "任务的最终状态（不可逆的状态）有哪些？", "Which task states are final (cannot change any more)?",
            lambda: frozenset(TERMINAL),
            "completed 和 failed：就像 Promise 的 fulfilled 和 rejected。",
            "completed and failed, like a Promise's fulfilled and rejected.",
        ),
        Question(
            "q4", "max_retries=3 的任务如果一直失败，一共会被投递（执行）几次？",
            "A job with max_retries=3 keeps failing: how many deliveries (runs) does it get in all?",
            lambda: float(RetryPolicy(max_retries=3).max_retries + 1),
            "第一次投递，加上 3 次重新投递。", "The first delivery plus 3 redeliveries.",
        ),
        Question(
            "q5", "按种子文档的指数退避（1 秒起，每次翻倍），第 3 次重试前要等几秒？",
            "With the seed's backoff (1 s, doubling), how many seconds before the 3rd retry?",
            lambda: float(RetryPolicy(max_retries=3, base=1, factor=2).delays()[2]),
            "1、2、4：第 3 次等 4 秒。", "1, 2, 4: the third wait is 4 s.",
        ),
        Question(
            "q6", "RQ 的状态 finished 对应四种状态里的哪一个？", "Which of the four states does RQ's status finished map to?",
            lambda: state_of("finished"),
            "见 labs/states.py：finished → completed（已签收）。", "See labs/states.py: finished maps to completed (signed for).",
            ("pending", "running", "completed", "failed"),
        ),
        Question(
            "q7", "被取消的任务会进入死信队列吗？", "Does a cancelled job go to the dead-letter queue?",
            lambda: "no",
            "不会：取消是寄件人自己的决定，不是退件。", "No: a cancel is the sender's own decision, not a return.",
            ("yes", "no"),
        ),
        Question(
            "q8", "WebSocket 和 SSE 里，哪一个断线后浏览器会自动重连？",
            "WebSocket or SSE: which one does the browser reconnect by itself?",
            lambda: "sse",
            "EventSource 自动重连并发送 Last-Event-ID；WebSocket 要自己写重连。",
            "EventSource reconnects and sends Last-Event-ID; a WebSocket client must write its own reconnect.",
            ("websocket", "sse"),
        ),
        Question(
            "q9", "重试用完仍然失败的任务去了哪里？", "Where does a job go when it still fails after all its retries?",
            lambda: "dlq",
            "死信队列（退件处理中心），等人处理或重新投递。",
            "The dead-letter queue (the returns centre), to be handled or redriven.",
        ),
        Question(
            "q10", "从死信队列重新投递（redrive）的任务，会得到一个新的任务 ID 吗？",
            "Does a job redriven from the dead-letter queue get a new job id?",
            lambda: "yes",
            "会：重新投递是一次新的投递，原来的历史不变。",
            "Yes: a redrive is a new delivery; the original's history stays as it was.",
            ("yes", "no"),
        ),
        Question(
            "q11", "Worker 在执行任务时被 SIGKILL，事件日志会为这个任务记下哪个事件？",
            "A worker is killed with SIGKILL mid-job: which event does the log record for the job?",
            lambda: next(e for e in EVENT_TYPES if e == "abandoned"),
            "abandoned：心跳停了，任务被发现遗弃，然后按计划重试。",
            "abandoned: the heartbeat stopped, the job is found abandoned, then retried by its plan.",
        ),
        Question(
            "q12", "大量 I/O 等待、代码本来就是 async 的中小型项目，种子文档推荐哪个队列？",
            "A small or medium project, mostly waiting on I/O, already written with async: which queue does the seed suggest?",
            lambda: "arq",
            "ARQ：轻量、原生 async。", "ARQ: lightweight and async at heart.",
            ("celery", "arq", "rq"),
        ),
    )
}  # fmt: skip


def expected(question_id: str) -> Any:
    """The expected answer of a question, as the lab computes it today."""
    return _question(question_id).answer()


def _question(question_id: str) -> Question:
    try:
        return QUESTIONS[question_id]
    except KeyError:
        raise KeyError(f"no question {question_id!r}; the quiz has {', '.join(QUESTIONS)}") from None


def check_answer(question_id: str, answer: Any) -> Feedback:
    """Check one answer and give bilingual feedback (None: not answered yet, shows the choices)."""
    q = _question(question_id)
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        choices = f" ({' / '.join(q.choices)})" if q.choices else ""
        return Feedback(q.id, False, False, f"✏️ {q.id}: 还没有作答 / not answered yet{choices} — {q.zh} / {q.en}")
    correct = normalise(answer) == normalise(q.answer())
    if correct:
        message = f"✅ {q.id}: 正确！{q.why_zh} / Correct! {q.why_en}"
    else:
        message = f"❌ {q.id}: 再想想。“{answer}” 不对。 / Not quite: {answer!r} is not it. — {q.zh} / {q.en}"
    return Feedback(q.id, correct, True, message)


def score(answers: dict[str, Any]) -> tuple[int, int]:
    """(correct, total) for a dict of answers."""
    return sum(check_answer(qid, answers.get(qid)).correct for qid in QUESTIONS), len(QUESTIONS)
