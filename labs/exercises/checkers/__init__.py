"""One checker per exercise: ``check(module, grader)`` runs its checks against a module.

The module is the student's file (``labs.exercises.ex01_backoff``), the
reference solution (``labs.exercises.solutions.ex01_backoff``) or, in the
tests, a plausible wrong answer. Checkers never import the solutions, so the
exercises work when an instructor hands out the stubs alone.
"""

from __future__ import annotations

from dataclasses import dataclass

LESSONS = {
    "states": "notebooks/02_task_states.ipynb",
    "progress": "notebooks/03_progress.ipynb",
    "retries": "notebooks/04_retries.ipynb",
    "dlq": "notebooks/05_dead_letter_queue.ipynb",
    "websocket": "notebooks/07_websocket.ipynb",
    "sse": "notebooks/08_sse.ipynb",
    "comparison": "notebooks/09_comparison.ipynb",
    "backpressure": "notebooks/13_backpressure.ipynb",
}
"""The lesson notebook each hint points at."""


@dataclass(frozen=True)
class Exercise:
    name: str
    zh: str
    en: str
    lesson: str
    runs: str
    """What the checks run: "function", "jobs" or "server"."""

    @property
    def number(self) -> str:
        return self.name[2:4]

    @property
    def title(self) -> str:
        return f"{self.zh} / {self.en}"


EXERCISES: dict[str, Exercise] = {
    ex.name: ex
    for ex in (
        Exercise(
            "ex01_backoff", "指数退避（抖动+上限）", "exponential backoff with jitter and a cap", LESSONS["retries"], "function"
        ),
        Exercise("ex02_progress", "让任务报告进度", "make a job report its progress", LESSONS["progress"], "jobs"),
        Exercise(
            "ex03_retryable", "哪些错误值得重试", "retryable or not: poison goes to the DLQ at once", LESSONS["retries"], "jobs"
        ),
        Exercise("ex04_states", "状态机校验器", "a validator for the four-state machine", LESSONS["states"], "jobs"),
        Exercise("ex05_sse_resume", "SSE 断点续传", "an SSE stream that resumes from Last-Event-ID", LESSONS["sse"], "server"),
        Exercise(
            "ex06_ws_client",
            "会重拨的 WebSocket 客户端",
            "a WebSocket client that reconnects and resumes",
            LESSONS["websocket"],
            "server",
        ),
        Exercise("ex07_redrive", "死信队列：修好再投递", "dead-letter redrive that fixes the input", LESSONS["dlq"], "jobs"),
        Exercise(
            "ex08_choose",
            "WebSocket、SSE 还是轮询；RQ、Celery 还是 ARQ",
            "WebSocket, SSE or polling; RQ, Celery or ARQ?",
            LESSONS["comparison"],
            "jobs",
        ),
        Exercise(
            "ex09_retry_after",
            "听从 Retry-After 的客户端",
            "a client that honours Retry-After",
            LESSONS["backpressure"],
            "server",
        ),
    )
}


def find(name: str) -> Exercise | None:
    """An exercise by its full name, number or topic: "ex01_backoff", "ex01", "01", "1" or "backoff"."""
    key = name.strip().lower().removesuffix(".py")
    if key in EXERCISES:
        return EXERCISES[key]
    for exercise in EXERCISES.values():
        topic = exercise.name.split("_", 1)[1]
        if key in {exercise.name[:4], exercise.number, exercise.number.lstrip("0"), topic}:
            return exercise
    return None
