"""Checks for exercise 4: the state-machine validator, on every pair of states and on real jobs' histories."""

from __future__ import annotations

from types import ModuleType

from ... import dlq, jobs
from ...retry import RetryPolicy
from ...states import can_follow as lab_can_follow
from ..grading import Fail, Grader, expect, short
from ..runner import ExerciseLab

LIMIT = 10.0
STATES = ["pending", "running", "completed", "failed"]
ODD = ["archived", "unknown", ""]
FAST = RetryPolicy(max_retries=2, base=0)

REQUIRED = ("can_follow", "first_invalid")
"""What the exercise file must define."""


def _pair_hint(previous: str | None, state: str, allowed: bool) -> str:
    """Why (previous -> state) is or is not allowed, in the parcel picture."""
    if previous is None:
        return "第一个事件一定是 pending（已下单） / the first event is always pending (order placed)"
    if previous in {"completed", "failed"} and state != previous:
        if (previous, state) == ("failed", "pending"):
            return (
                "终态不可逆：重试是 running → pending（预约重新投递），失败的任务不会回到 pending；重新投递会建一个新任务 / "
                "terminal states are final: a retry is running → pending; redriving a failed job makes a new job"
            )
        return "终态不可逆：已签收/派送失败之后只能是它自己 / terminal states are final: only the same state may follow"
    if state not in STATES or previous not in STATES:
        return "只有四个状态：pending、running、completed、failed / there are only four states"
    if (previous, state) == ("pending", "completed"):
        return "没运输就签收？要先 running / signed for without being in transit? running comes first"
    if previous == state:
        return (
            "一个状态可以连着出现好几次：进度事件让任务一直是 running / the same state may repeat: progress events keep a job "
            "running, annotations keep it failed"
        )
    if (previous, state) == ("running", "pending"):
        return "这次投递失败、预约了重新投递：running → pending / a failed delivery with a retry booked: running → pending"
    if (previous, state) == ("pending", "failed"):
        return "还没开始就被取消：pending → failed / cancelled before it started: pending → failed"
    return "对照练习文件里的规则 / compare with the rules in the exercise file" if allowed else ""


def _history(lab: ExerciseLab, job_id: str) -> list[str]:
    return [e.state for e in lab.events(job_id)]


def check(module: ModuleType, g: Grader) -> None:
    def pairs(previous_states: list[str | None], states: list[str]) -> None:
        for previous in previous_states:
            for state in states:
                got = module.can_follow(previous, state)
                want = lab_can_follow(previous, state)
                expect(isinstance(got, bool), f"can_follow({previous!r}, {state!r}) returned {got!r}", "return True or False")
                if got != want:
                    raise Fail(
                        f"can_follow({previous!r}, {state!r}) returned {got}, expected {want}", _pair_hint(previous, state, want)
                    )

    @g.check("第一个事件 / the first event", limit=LIMIT)
    def _() -> None:
        pairs([None], STATES + ODD)

    @g.check("pending 和 running 之后 / after pending and running", limit=LIMIT)
    def _() -> None:
        pairs(["pending", "running"], STATES)

    @g.check("终态不可逆 / terminal states are final", limit=LIMIT)
    def _() -> None:
        pairs(["completed", "failed"], STATES)

    @g.check("只有四个状态 / only the four states", limit=LIMIT)
    def _() -> None:
        pairs(STATES + ODD, ODD)
        pairs(ODD, STATES)

    @g.check("找出第一个不合法的位置 / first_invalid() finds the first bad state", limit=LIMIT)
    def _() -> None:
        cases: list[tuple[list[str], int | None]] = [
            ([], None),
            (["pending"], None),
            (["pending", "running", "running", "completed", "completed"], None),
            (["pending", "running", "pending", "running", "failed", "failed"], None),
            (["running", "completed"], 0),
            (["pending", "completed"], 1),
            (["pending", "running", "completed", "running"], 3),
            (["pending", "running", "failed", "pending", "running"], 3),
            (["pending", "running", "archived"], 2),
        ]
        for states, want in cases:
            got = module.first_invalid(list(states))
            if got != want:
                bad = states[want] if want is not None else None
                hint = (
                    _pair_hint(states[want - 1] if want else None, bad, False)
                    if want is not None
                    else "全部合法时返回 None（空列表也是） / return None when every state is valid (an empty list too)"
                )
                raise Fail(f"first_invalid({states}) returned {got!r}, expected {want!r}", hint)

    lab = ExerciseLab()
    retried = lab.submit("send_email", {"to": "li@example.com", "fail_first": 1, "duration": 0.1}, retry=FAST)
    progress = lab.submit("slow_task", {"steps": 3, "step_seconds": 0.1})
    poison = lab.submit("risky_task", {"data": {"poison": True}}, retry=FAST)
    fail_fast = lab.submit("risky_task", {"data": {"poison": True}, "fail_fast": True})
    cancelled = lab.submit("slow_task", {"steps": 3})
    jobs.cancel(lab.conn, cancelled)

    @g.check("真实任务的历史都合法 / real jobs' histories are valid")
    def _() -> None:
        lab.run()
        redriven = dlq.redrive(lab.conn, fail_fast, {"data": {"poison": False}})
        lab.run()
        names = {
            retried: "a retried e-mail",
            progress: "a slow task with progress",
            poison: "a dead-lettered poison record",
            fail_fast: "a redriven poison record",
            cancelled: "a job cancelled before it started",
            redriven: "the redriven job",
        }
        for job_id, what in names.items():
            states = _history(lab, job_id)
            got = module.first_invalid(states)
            if got is not None:
                at = got if isinstance(got, int) and 0 <= got < len(states) else None
                hint = _pair_hint(states[at - 1] if at else None, states[at], True) if at is not None else ""
                raise Fail(f"{what} really went {short(states, 300)}, but first_invalid() said position {got!r} is invalid", hint)

    @g.check("发现被篡改的历史 / spots a tampered real history", limit=LIMIT)
    def _() -> None:
        real = _history(lab, retried)
        tampered = [
            (real + ["running"], len(real), "completed, then running again"),
            (["running"] + real[1:], 0, "starting as running"),
            (_history(lab, poison) + ["pending"], len(_history(lab, poison)), "failed, then pending (retried from failed)"),
        ]
        for states, want, what in tampered:
            got = module.first_invalid(states)
            expect(
                got == want,
                f"a real history changed to '{what}': first_invalid() returned {got!r}, expected {want}",
                _pair_hint(states[want - 1] if want else None, states[want], False),
            )
