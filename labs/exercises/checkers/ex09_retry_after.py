"""Checks for exercise 9: the student's client against the lab's real API, with its real rate limit set low.

The API (``labs.api.create_app``) runs in-process on the checks' private broker,
with admission control on (``LAB_ADMISSION=on``: the open lab is limited by
client address) and a token bucket of :data:`RATE` jobs per second, so a client
that submits :data:`JOBS` jobs as fast as it can is refused with real 429s and
``Retry-After``. The client it is given records every request and reply, and
the ``sleep`` it is given records every wait (and really waits: the bucket
refills with time). The checks read that record as a sequence, never a clock.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ...settings import environment
from ..grading import Fail, Grader, expect, short
from ..runner import broker_url

JOBS = 10
RATE = 4
"""Jobs per second the check's API admits (its bucket holds this many)."""
LIMIT = 30.0
MAX_SLEEP = 3.0
"""A wait longer than this is cut short (the check must end); Retry-After here is 1 s."""

REQUIRED = ("submit_all",)
"""What the exercise file must define."""

with warnings.catch_warnings():  # Starlette suggests httpx2 for its TestClient; the lab pins httpx
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


@dataclass
class Record:
    """What happened, in order: ("request", body) / ("reply", status, retry_after, body) / ("sleep", seconds)."""

    steps: list[tuple[Any, ...]] = field(default_factory=list)

    def sleep(self, seconds: Any) -> None:
        self.steps.append(("sleep", seconds))
        time.sleep(min(max(float(seconds), 0.0), MAX_SLEEP))

    @property
    def replies(self) -> list[tuple[Any, ...]]:
        return [s for s in self.steps if s[0] == "reply"]


def _recording_client(app: Any, record: Record) -> Any:
    class RecordingClient(TestClient):
        def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
            record.steps.append(("request", kwargs.get("json")))
            response = super().request(method, url, *args, **kwargs)
            try:
                body = response.json()
            except ValueError:
                body = response.text
            record.steps.append(("reply", response.status_code, response.headers.get("retry-after"), body))
            return response

    return RecordingClient(app)


@contextmanager
def flooded_api() -> Iterator[Any]:
    """The lab's API on the checks' broker, rate-limiting every client to RATE jobs a second."""
    from ...api import create_app

    with environment(REDIS_URL=broker_url(), LAB_QUEUE="check-ex09", LAB_ADMISSION="on", LAB_RATE_LIMIT=str(RATE),
                     LAB_RATE_PERIOD="1", LAB_INSTRUCTOR_TOKEN=None):  # fmt: skip
        yield create_app()


def _jobs(run: str) -> list[dict[str, Any]]:
    return [{"task": "noop", "params": {"value": f"{run}-{n}"}} for n in range(JOBS)]


def _call(module: ModuleType, client: Any, jobs: list[dict[str, Any]], record: Record) -> Any:
    return module.submit_all(client, jobs, sleep=record.sleep)


def check(module: ModuleType, g: Grader) -> None:
    with flooded_api() as app:
        _checks(module, g, app, Record(), _jobs(f"r{time.time_ns()}"))


def _checks(module: ModuleType, g: Grader, app: Any, record: Record, jobs: list[dict[str, Any]]) -> None:
    @g.check("每个任务都交上去，一个不多 / every job accepted, each once, in order", limit=LIMIT)
    def _() -> None:
        with _recording_client(app, record) as client:
            ids = _call(module, client, jobs, record)
            accepted = [s for s in record.replies if s[1] == 202]
            refused = [s for s in record.replies if s[1] == 429]
            expect(
                refused,
                "the API never refused you, so this check tested nothing: did you wait before submitting?",
                "不用提前等：先交，被拒绝了再等 / do not wait in advance: submit, and wait only when refused",
            )
            expect(
                isinstance(ids, list) and all(isinstance(i, str) for i in ids),
                f"submit_all returned {short(ids)}",
                '返回每个任务的 ID：response.json()["id"] / return each job id: response.json()["id"]',
            )
            expect(
                len(accepted) == JOBS,
                f"the API accepted {len(accepted)} submits for {JOBS} jobs ({len(refused)} refused with 429)",
                "被拒绝（429）的任务要再交一次；交成功（202）的不要再交 / submit a refused (429) job again, never an accepted "
                "(202) one",
            )
            requests = [s[1] for s in record.steps if s[0] == "request"]
            sent = {
                reply[3].get("id"): (job or {}).get("params", {}).get("value")
                for job, reply in zip(requests, record.replies, strict=True)
                if reply[1] == 202 and isinstance(reply[3], dict)
            }
            values = [sent.get(i) for i in ids]
            expect(
                values == [job["params"]["value"] for job in jobs],
                f"the ids you returned are of the jobs {short(values)}, not of {short([j['params']['value'] for j in jobs])}",
                "按 jobs 的顺序返回 ID / return the ids in the order of jobs",
            )

    @g.check("被拒绝后按 Retry-After 等待 / after a 429, wait as long as Retry-After says", limit=LIMIT)
    def _() -> None:
        waited = None  # seconds slept since the last 429 (None: no 429 pending)
        owed = 0.0
        for step in record.steps:
            if step[0] == "reply" and step[1] == 429:
                waited, owed = 0.0, float(step[2] or 0)
            elif step[0] == "sleep" and waited is not None:
                try:
                    waited += float(step[1])
                except (TypeError, ValueError):
                    raise Fail(f"sleep() was given {short(step[1])}", "sleep(秒数) / sleep(seconds): a number") from None
            elif step[0] == "request" and waited is not None:
                expect(
                    waited >= owed,
                    f"after a 429 with Retry-After: {owed:g} you waited {waited:g} s, then submitted again",
                    '读 response.headers["Retry-After"]，sleep 这么多秒再交 / read response.headers["Retry-After"] and '
                    "sleep that many seconds before you submit again",
                )
                waited = None

    @g.check("没被拒绝就不等 / no wait unless refused", limit=LIMIT)
    def _() -> None:
        told = sum(float(s[2] or 0) for s in record.replies if s[1] == 429)
        slept = sum(float(s[1]) for s in record.steps if s[0] == "sleep")
        expect(
            record.steps and record.steps[0][0] == "request",
            f"you waited {short(record.steps[0][1]) if record.steps else '?'} s before your first submit",
            "先交；只在 429 之后等 / submit first; wait only after a 429",
        )
        expect(
            slept <= told + 0.5,
            f"you slept {slept:g} s in all; the server asked for {told:g} s",
            "只等服务器要求的时间 / wait only as long as the server asks",
        )

    @g.check("422 不重试 / a 422 is not retried: waiting cannot fix bad params", limit=LIMIT)
    def _() -> None:
        bad = Record()
        with _recording_client(app, bad) as client:
            try:
                got = _call(module, client, [{"task": "no_such_task", "params": {}}], bad)
            except NotImplementedError:
                raise
            except Exception:  # noqa: BLE001 - any error is the right outcome; which one is the student's choice
                pass
            else:
                raise Fail(
                    f"submit_all returned {short(got)} for a job the API refused with 422",
                    "其它 4xx 要抛出异常：response.raise_for_status() / raise on any other 4xx: response.raise_for_status()",
                )
        statuses = [s[1] for s in bad.replies]
        first = statuses.index(422) if 422 in statuses else None
        expect(
            first is not None and first == len(statuses) - 1,
            f"the API answered {statuses}: you sent the job again after its 422",
            "422 等多久都不会变：只有 429 才重试 / a 422 stays a 422 however long you wait: retry a 429 only",
        )
