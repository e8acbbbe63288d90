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
from dataclasses import dataclass, field
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
    lesson: str = ""
    """Where it is taught (a wrong answer is sent there)."""
    wrong: dict[Any, tuple[str, str]] = field(default_factory=dict)
    """Common wrong answers (as :func:`normalise` gives them) and the misconception behind each, zh and en."""


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
            lesson="03/08",
            wrong={
                "websocket": ("WebSocket 也能推，但进度只从服务器流向浏览器，用不到双向通道；SSE 更简单，还会自动重连。",
                              "A WebSocket can push too, but progress only flows server to browser: the two-way line goes unused; SSE is simpler and reconnects by itself."),
                "polling": ("轮询要客户端一遍遍地问，多数回答是“还没变”；种子文档把它留给写数据库的场景 3。",
                            "Polling makes the client ask again and again, mostly to hear \"nothing new\"; the seed keeps it for scenario 3, which writes to a database."),
            },
        ),
        Question(
            "q2", "聊天应用呢？", "And a chat application?",
            lambda: "websocket",
            "聊天需要双向实时通信，像打电话。", "Chat needs two-way real-time talk, like a phone call.",
            ("websocket", "sse", "polling"),
            lesson="07",
            wrong={
                "sse": ("SSE 只能服务器说、浏览器听（像收音机）；聊天时浏览器也要随时说话。",
                        "SSE only lets the server talk and the browser listen (a radio); in a chat the browser talks at any moment too."),
                "polling": ("轮询的延迟是轮询间隔，聊天要的是即时的双向通话。", "Polling is as late as its interval; a chat needs an instant two-way call."),
            },
        ),
        Question(
            "q3", "任务的最终状态（不可逆的状态）有哪些？", "Which task states are final (cannot change any more)?",
            lambda: frozenset(TERMINAL),
            "completed 和 failed：就像 Promise 的 fulfilled 和 rejected。",
            "completed and failed, like a Promise's fulfilled and rejected.",
            lesson="02",
            wrong={
                "completed": ("失败也是最终的：failed 的任务不会自己再变回 running（重新投递会得到新的 ID）。",
                              "Failure is final too: a failed job never goes back to running by itself (a redrive gets a new id)."),
                "failed": ("成功同样是最终的：completed 之后不会再变。", "Success is final as well: nothing changes after completed."),
                frozenset({"completed", "failed", "cancelled"}): (
                    "cancelled 是事件，不是第五种状态：被取消的任务在四种状态里记为 failed。",
                    "cancelled is an event, not a fifth state: a cancelled job is failed among the four states."),
            },
        ),
        Question(
            "q4", "max_retries=3 的任务如果一直失败，一共会被投递（执行）几次？",
            "A job with max_retries=3 keeps failing: how many deliveries (runs) does it get in all?",
            lambda: float(RetryPolicy(max_retries=3).max_retries + 1),
            "第一次投递，加上 3 次重新投递。", "The first delivery plus 3 redeliveries.",
            lesson="04",
            wrong={
                3.0: ("max_retries 数的是重试（重新投递），第一次投递不算在内：1 + 3。",
                      "max_retries counts the retries (redeliveries); the first delivery is not one of them: 1 + 3."),
            },
        ),
        Question(
            "q5", "按种子文档的指数退避（1 秒起，每次翻倍），第 3 次重试前要等几秒？",
            "With the seed's backoff (1 s, doubling), how many seconds before the 3rd retry?",
            lambda: float(RetryPolicy(max_retries=3, base=1, factor=2).delays()[2]),
            "1、2、4：第 3 次等 4 秒。", "1, 2, 4: the third wait is 4 s.",
            lesson="04",
            wrong={
                8.0: ("等待是 1、2、4：第 3 次重试前等 4 秒；8 秒是第 4 次。", "The waits are 1, 2, 4: 4 s before the 3rd retry; 8 s would be the 4th."),
                3.0: ("这是线性退避（1、2、3）；指数退避每次翻倍。", "That is linear backoff (1, 2, 3); exponential backoff doubles each time."),
                2.0: ("2 秒是第 2 次重试前的等待。", "2 s is the wait before the 2nd retry."),
            },
        ),
        Question(
            "q6", "RQ 的状态 finished 对应四种状态里的哪一个？", "Which of the four states does RQ's status finished map to?",
            lambda: state_of("finished"),
            "见 labs/states.py：finished → completed（已签收）。", "See labs/states.py: finished maps to completed (signed for).",
            ("pending", "running", "completed", "failed"),
            lesson="02",
            wrong={
                "running": ("finished 是 RQ 的“已经做完”，不是“正在做”（那是 started）。", "RQ's finished means done, not in progress (that is started)."),
                "pending": ("pending 是 RQ 的 queued 或 deferred：还在排队；finished 已经做完了。", "pending is RQ's queued or deferred: still waiting; finished is done."),
                "failed": ("finished 只在任务成功返回时出现；出错的是 RQ 的 failed。", "finished only follows a job that returned; one that raised is RQ's failed."),
            },
        ),
        Question(
            "q7", "被取消的任务会进入死信队列吗？", "Does a cancelled job go to the dead-letter queue?",
            lambda: "no",
            "不会：取消是寄件人自己的决定，不是退件。", "No: a cancel is the sender's own decision, not a return.",
            ("yes", "no"),
            lesson="05",
            wrong={
                "yes": ("死信队列收的是投递失败、重试也救不了的件；取消是寄件人自己撤回，不需要有人处理。",
                        "The dead-letter queue holds parcels that failed past every retry; a cancel is the sender's own choice, nothing to handle."),
            },
        ),
        Question(
            "q8", "WebSocket 和 SSE 里，哪一个断线后浏览器会自动重连？",
            "WebSocket or SSE: which one does the browser reconnect by itself?",
            lambda: "sse",
            "EventSource 自动重连并发送 Last-Event-ID；WebSocket 要自己写重连。",
            "EventSource reconnects and sends Last-Event-ID; a WebSocket client must write its own reconnect.",
            ("websocket", "sse"),
            lesson="08",
            wrong={
                "websocket": ("浏览器的 WebSocket 断了就是断了：重连和补发要自己写；EventSource 会自己重连并带上 Last-Event-ID。",
                              "A browser WebSocket that drops stays dropped: reconnect and catch-up are yours to write; EventSource reconnects and sends Last-Event-ID."),
            },
        ),
        Question(
            "q9", "重试用完仍然失败的任务去了哪里？", "Where does a job go when it still fails after all its retries?",
            lambda: "dlq",
            "死信队列（退件处理中心），等人处理或重新投递。",
            "The dead-letter queue (the returns centre), to be handled or redriven.",
            lesson="05",
            wrong={
                "failed": ("failed 是它的状态；问的是它去了哪里：退件处理中心，也就是死信队列。",
                           "failed is its state; the question is where it goes: the returns centre, the dead-letter queue."),
            },
        ),
        Question(
            "q10", "从死信队列重新投递（redrive）的任务，会得到一个新的任务 ID 吗？",
            "Does a job redriven from the dead-letter queue get a new job id?",
            lambda: "yes",
            "会：重新投递是一次新的投递，原来的历史不变。",
            "Yes: a redrive is a new delivery; the original's history stays as it was.",
            ("yes", "no"),
            lesson="05",
            wrong={
                "no": ("redrive 是一次新的投递，得到新的 ID；原来那条记录和它的历史保持不变，两者互相链接。",
                       "A redrive is a new delivery with a new id; the original record and its history stay as they were, linked to it."),
            },
        ),
        Question(
            "q11", "Worker 在执行任务时被 SIGKILL，事件日志会为这个任务记下哪个事件？",
            "A worker is killed with SIGKILL mid-job: which event does the log record for the job?",
            lambda: next(e for e in EVENT_TYPES if e == "abandoned"),
            "abandoned：心跳停了，任务被发现遗弃，然后按计划重试。",
            "abandoned: the heartbeat stopped, the job is found abandoned, then retried by its plan.",
            lesson="06",
            wrong={
                "failed": ("被杀的 Worker 来不及写下任何东西；是别人（心跳过期后）发现它被遗弃：abandoned，然后按计划重试，不是直接失败。",
                           "A killed worker writes nothing; someone else finds the job abandoned once its heartbeat expires, then it is retried by plan, not failed at once."),
                "killed": ("日志里记的是任务的事件，不是 Worker 的：abandoned。", "The log records the job's event, not the worker's: abandoned."),
            },
        ),
        Question(
            "q12", "大量 I/O 等待、代码本来就是 async 的中小型项目，种子文档推荐哪个队列？",
            "A small or medium project, mostly waiting on I/O, already written with async: which queue does the seed suggest?",
            lambda: "arq",
            "ARQ：轻量、原生 async。", "ARQ: lightweight and async at heart.",
            ("celery", "arq", "rq"),
            lesson="10",
            wrong={
                "celery": ("Celery 功能最全，但它的 prefork 池按进程并行，async 代码得不到好处；对中小型 async 项目偏重。",
                           "Celery has the most features, but its prefork pool is parallel by process, so async code gains nothing; heavy for a small async project."),
                "rq": ("RQ 简单，但一个 Worker 一次只做一件事：I/O 等待一个接一个（第 10 课量过）。",
                       "RQ is simple, but one worker does one job at a time: the I/O waits come one after another (measured in lesson 10)."),
            },
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
        zh, en = q.wrong.get(normalise(answer), ("", ""))
        where = f"第 {q.lesson} 课" if q.lesson else "", f"lesson {q.lesson}" if q.lesson else ""
        if not zh:  # no known misconception: send the student back to where it is taught
            zh, en = f"回到{where[0]}再看看。", f"Have another look at {where[1]}."
        message = f"❌ {q.id}: 再想想。“{answer}” 不对：{zh} / Not quite: {answer!r} is not it. {en} — {q.zh} / {q.en}"
    return Feedback(q.id, correct, True, message)


def score(answers: dict[str, Any]) -> tuple[int, int]:
    """(correct, total) for a dict of answers."""
    return sum(check_answer(qid, answers.get(qid)).correct for qid in QUESTIONS), len(QUESTIONS)
