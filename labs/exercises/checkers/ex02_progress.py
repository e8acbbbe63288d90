"""Checks for exercise 2: a real job that reports its progress, run by the lab's worker on the embedded broker."""

from __future__ import annotations

from types import ModuleType

from ..grading import Fail, Grader, expect, short
from ..runner import ExerciseLab, errors_of

PARCELS = ["P-1", "P-2", "P-3", "P-4"]
BROKEN = ["P-1", "P-2", "P-3", "broken-4", "P-5"]
FUNC = "pack_parcels"

REQUIRED = ("pack_parcels",)
"""What the exercise file must define."""


def _reports(lab: ExerciseLab, job_id: str) -> list[dict]:
    return [e.progress for e in lab.events(job_id) if e.event == "progress" and e.progress]


def _done(reports: list[dict]) -> list[object]:
    return [r.get("done") for r in reports]


def check(module: ModuleType, g: Grader) -> None:
    lab = ExerciseLab(module)
    job = lab.submit_func(FUNC, {"parcels": PARCELS})
    broken = lab.submit_func(FUNC, {"parcels": BROKEN})
    empty = lab.submit_func(FUNC, {"parcels": []})

    @g.check("任务能跑完 / the job completes")
    def _() -> None:
        lab.run()
        lab.raise_if_not_written(job, FUNC)
        replay = lab.replay(job)
        expect(
            replay.state == "completed",
            f"the job ended {replay.state}: {errors_of(replay)}",
            "先让任务能正常跑完（用 pack(parcel) 打包每一个） / first make the job finish: pack(parcel) each parcel",
        )
        result = lab.view(job)["result"]
        expect(
            result == {"packed": len(PARCELS)},
            f"the job returned {short(result)}, expected {{'packed': {len(PARCELS)}}}",
            'return {"packed": len(parcels)}',
        )

    @g.check("每个包裹报告一次 / one report per parcel")
    def _() -> None:
        reports = _reports(lab, job)
        expect(
            reports,
            f"the job made no progress reports for {PARCELS}",
            "每打包完一个包裹就调用 progress(done, total, message) / call progress(done, total, message) after each parcel",
        )
        done = [d for d in _done(reports) if d != 0]  # an extra 0/4 at the start is fine
        totals = {r.get("total") for r in reports}
        expect(
            totals == {len(PARCELS)},
            f"the reports said total = {sorted(totals, key=str)}; there are {len(PARCELS)} parcels",
            "total 一直是 len(parcels) / total is always len(parcels)",
        )
        if _done(reports) == list(range(len(PARCELS))):
            raise Fail(
                f"the reports counted done = {_done(reports)}: the last one says 3/4, never 4/4",
                "从 1 开始数：enumerate(parcels, start=1) / count from 1: enumerate(parcels, start=1)",
            )
        expect(
            done == list(range(1, len(PARCELS) + 1)),
            f"the reports counted done = {_done(reports)} for {len(PARCELS)} parcels; expected 1, 2, 3, 4",
            "每个包裹之后报一次，done 是已打包的个数 / one report after each parcel; done = parcels packed so far",
        )

    @g.check("最后是 100% / the last report is 100%")
    def _() -> None:
        view = lab.view(job)["progress"]  # what the API and the dashboard show
        expect(
            view.get("percent") == 100.0,
            f"the job finished at {view.get('percent')}% ({view.get('done')}/{view.get('total')})",
            "最后一次报告应该是 progress(len(parcels), len(parcels), ...) / the last report is total/total",
        )

    @g.check("消息里有包裹名 / each message names its parcel")
    def _() -> None:
        for report in _reports(lab, job):
            done, message = report.get("done"), str(report.get("message", ""))
            if not isinstance(done, int) or not 1 <= done <= len(PARCELS):
                continue
            expect(
                PARCELS[done - 1] in message,
                f"the report for {done}/{len(PARCELS)} says {message!r}",
                f'消息里写上刚打包的包裹，比如 "packed {PARCELS[done - 1]} ({done}/{len(PARCELS)})" / '
                "name the parcel you just packed in the message",
            )

    @g.check("边做边报告 / progress arrives while the job works")
    def _() -> None:
        replay = lab.replay(broken)
        expect(
            replay.state == "failed",
            f"a job with the parcel 'broken-4' ended {replay.state}",
            "不要吞掉 pack() 的异常：坏包裹就该让任务失败 / do not swallow pack()'s error: a broken parcel fails the job",
        )
        done = [d for d in _done(_reports(lab, broken)) if d != 0]
        expect(
            done == [1, 2, 3],
            f"the job failed at parcel 4 of {len(BROKEN)} and had reported done = {done} before it failed; expected 1, 2, 3",
            "每打包完一个就马上报告，不要等全部打包完 / report right after each parcel, not at the end",
        )

    @g.check("空列表 / an empty list")
    def _() -> None:
        replay = lab.replay(empty)
        expect(
            replay.state == "completed",
            f"pack_parcels([]) ended {replay.state}: {errors_of(replay)}",
            "没有包裹时不要除以 0 / with no parcels, do not divide by zero",
        )
        expect(
            lab.view(empty)["result"] == {"packed": 0},
            f"pack_parcels([]) returned {short(lab.view(empty)['result'])}",
            'return {"packed": 0}',
        )
