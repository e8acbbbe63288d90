"""Checks for exercise 3: sort errors into retryable or not, then watch real jobs retry or go to the DLQ at once."""

from __future__ import annotations

import json
from types import ModuleType

import redis

from ... import dlq
from ...errors import PermanentError, PoisonInput
from ...retry import RetryPolicy
from ...tasks.demo import SMTPTemporaryError
from ..grading import Grader, expect
from ..runner import ExerciseLab, errors_of, started_count
from . import LESSONS

LIMIT = 10.0
RETRY = RetryPolicy(max_retries=3, base=0)  # redeliver at once: the checks look at the sequence, not the waits
DELIVERIES = RETRY.max_retries + 1
SEE_DLQ = f"see also {LESSONS['dlq']}"

REQUIRED = ("is_retryable", "deliver")
"""What the exercise file must define."""


def _json_error() -> ValueError:
    try:
        json.loads("{not json")
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


TRANSIENT: list[tuple[str, BaseException]] = [
    ("TimeoutError", TimeoutError("the courier timed out")),
    ("ConnectionError", ConnectionError("connection reset")),
    ("ConnectionRefusedError", ConnectionRefusedError(111, "Connection refused")),
    ("SMTPTemporaryError", SMTPTemporaryError("421 service not available")),
]
INPUT: list[tuple[str, BaseException]] = [
    ("ValueError", ValueError("address does not exist")),
    ("json.JSONDecodeError", _json_error()),
    ("TypeError", TypeError("weight must be a number")),
    ("KeyError", KeyError("postcode")),
    ("PermanentError", PermanentError("cannot be processed")),
    ("PoisonInput", PoisonInput("poison record")),
]
OTHER: list[tuple[str, BaseException]] = [
    ("RuntimeError", RuntimeError("the depot's conveyor belt jammed")),
    ("OSError", OSError("resource temporarily unavailable")),
    ("redis.exceptions.ConnectionError", redis.exceptions.ConnectionError("the broker went away")),
]

PARCELS = {
    "ok": {"id": "P-1", "problem": "none"},
    "timeout": {"id": "P-2", "problem": "timeout", "fail_times": 2},
    "outage": {"id": "P-3", "problem": "connection"},
    "bad_address": {"id": "P-4", "problem": "bad_address", "address": "0 Nowhere Rd"},
    "missing_field": {"id": "P-5", "problem": "missing_field"},
    "wrong_type": {"id": "P-6", "problem": "wrong_type", "weight": "heavy"},
}
POISON = ("bad_address", "missing_field", "wrong_type")
ORIGINAL = {"bad_address": "does not exist", "missing_field": "postcode", "wrong_type": "weight must be a number"}


def _classify(module: ModuleType, cases: list[tuple[str, BaseException]], want: bool, hint: str) -> None:
    wrong = []
    for name, exc in cases:
        got = module.is_retryable(exc)
        expect(isinstance(got, bool), f"is_retryable({name}(...)) returned {got!r}, not True or False", "return True or False")
        if got is not want:
            wrong.append(name)
    expect(not wrong, f"is_retryable() says {'not ' if want else ''}retryable for: {', '.join(wrong)}", hint)


def check(module: ModuleType, g: Grader) -> None:
    @g.check("暂时性错误值得重试 / transient errors are retryable", limit=LIMIT)
    def _() -> None:
        _classify(
            module,
            TRANSIENT,
            True,
            "超时和连接失败过一会儿可能就好了：isinstance(exc, (TimeoutError, ConnectionError)) / "
            "timeouts and connection failures may pass: isinstance also matches their subclasses",
        )

    @g.check("输入错误不值得重试 / errors about the input are not", limit=LIMIT)
    def _() -> None:
        _classify(
            module,
            INPUT,
            False,
            "同样的输入每次都会同样地失败：ValueError、TypeError、KeyError、PermanentError 及其子类 / "
            "the same input fails the same way every time: ValueError, TypeError, KeyError, PermanentError "
            "and their subclasses (JSONDecodeError is a ValueError)",
        )

    @g.check("没见过的错误也重试 / anything else is retried", limit=LIMIT)
    def _() -> None:
        _classify(
            module,
            OTHER,
            True,
            "拿不准就重试（重试次数有上限）：只有输入错误返回 False / when unsure, retry (retries are limited): "
            "only errors about the input return False",
        )

    lab = ExerciseLab(module)
    jobs = {name: lab.submit_func("deliver", {"parcel": parcel}, retry=RETRY) for name, parcel in PARCELS.items()}

    @g.check("deliver 能正常投递 / deliver() returns ship()'s result")
    def _() -> None:
        lab.run()
        lab.raise_if_not_written(jobs["ok"], "deliver")
        replay = lab.replay(jobs["ok"])
        expect(
            replay.state == "completed",
            f"a parcel with no problem ended {replay.state}: {errors_of(replay)}",
            "return ship(parcel)",
        )
        result = lab.view(jobs["ok"])["result"]
        expect(result == {"delivered": "P-1", "attempt": 1}, f"deliver() returned {result!r}", "return ship(parcel)")

    @g.check("暂时性错误会重新投递 / transient failures are redelivered")
    def _() -> None:
        timeout, outage = lab.replay(jobs["timeout"]), lab.replay(jobs["outage"])
        hint = (
            "值得重试的错误要原样抛出（raise），worker 才会重新投递 / re-raise a retryable error unchanged (raise) "
            "so the worker redelivers it"
        )
        expect(
            timeout.state == "completed" and timeout.attempts == 3,
            f"a parcel that timed out twice ended {timeout.state} after {timeout.attempts} deliveries (expected: completed "
            f"on delivery 3); reason: {timeout.reason or '-'}",
            hint,
        )
        history = lab.events(jobs["outage"])
        expect(
            started_count(history) == DELIVERIES and outage.reason == "error",
            f"a parcel whose depot was down every time was delivered {started_count(history)} time(s) "
            f"(expected {DELIVERIES}: 1 + {RETRY.max_retries} retries), reason {outage.reason or '-'}",
            hint,
        )

    @g.check("毒包裹投递一次就进死信队列 / poison reaches the DLQ after one delivery")
    def _() -> None:
        for name in POISON:
            history = lab.events(jobs[name])
            replay = lab.replay(jobs[name])
            tries = started_count(history)
            expect(
                replay.dead_lettered,
                f"the {name} parcel is not in the dead-letter queue (it ended {replay.state})",
                f"不值得重试的错误要让任务失败 / an error that is not worth retrying must fail the job; {SEE_DLQ}",
            )
            expect(
                tries == 1 and replay.reason == "permanent",
                f"the {name} parcel was delivered {tries} times before the dead-letter queue (reason {replay.reason!r})",
                "对不值得重试的错误抛出 PermanentError，worker 就不再重试 / raise PermanentError for an error that is "
                f"not worth retrying: the worker then skips the retries; {SEE_DLQ}",
            )

    @g.check("退件单上写明原因 / the dead letter says what was wrong")
    def _() -> None:
        entries = {entry["id"]: entry for entry in dlq.list_entries(lab.conn)}
        for name in POISON:
            error = str(entries.get(jobs[name], {}).get("error", ""))
            expect(
                ORIGINAL[name] in error,
                f"the dead letter of the {name} parcel says {error!r}",
                "保留原来的错误信息：raise PermanentError(str(exc)) from exc / keep the original message: "
                f"raise PermanentError(str(exc)) from exc; {SEE_DLQ}",
            )
