"""Checks for exercise 7: triage a real dead-letter queue, then watch the redriven parcels get delivered."""

from __future__ import annotations

import copy
from types import ModuleType
from typing import Any

from ... import dlq
from ...catalogue import get_spec
from ...errors import InvalidParams
from ..grading import Fail, Grader, expect, short
from ..runner import ExerciseLab, errors_of

LIMIT = 10.0
BOOK = {
    "Li Lei": "12 Zhongshan Road, Guangzhou",
    "Han Meimei": "8 Nanjing Road, Shanghai",
}
RETURNED = {
    "P-1": {"parcel": "P-1", "to": "Li Lei", "address": "", "poison": True},
    "P-2": {"parcel": "P-2", "to": "Han Meimei", "address": "8 Nanjin Rd", "poison": True},
    "P-3": {"parcel": "P-3", "to": "Nobody Known", "address": "?", "poison": True},
}
FIXABLE = ("P-1", "P-2")

REQUIRED = ("fix", "triage")
"""What the exercise file must define."""


def _entries(lab: ExerciseLab) -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in dlq.list_entries(lab.conn)}


def check(module: ModuleType, g: Grader) -> None:
    lab = ExerciseLab()
    parcels = {name: lab.submit("risky_task", {"data": data, "fail_fast": True}) for name, data in RETURNED.items()}
    email = lab.submit("send_email", {"to": "ana@example.com", "fail_first": 1, "duration": 0.1}, retry={"max_retries": 0})
    lab.run()
    entries = _entries(lab)  # the returns centre, before the student touches it
    outcome: dict[str, Any] = {}

    @g.check("fix() 改好地址 / fix() corrects the address", limit=LIMIT)
    def _() -> None:
        for name in FIXABLE:
            entry = entries[parcels[name]]
            before = copy.deepcopy(entry)
            got = module.fix(entry)
            expect(
                entry == before,
                f"fix() changed the entry it was given: params became {short(entry['params'])}",
                '返回新的字典，不要改 entry：{**params, "data": {**data, ...}} / build new dicts instead of changing the '
                "entry: it is the record of what failed",
            )
            expect(
                isinstance(got, dict),
                f"fix() returned {short(got)} for {name} to {RETURNED[name]['to']}",
                "收件人在通讯录里，就返回改好的参数字典 / the recipient is in ADDRESS_BOOK: return the corrected params",
            )
            data = got.get("data")
            expect(
                isinstance(data, dict),
                f"fix() returned {short(got)}: no 'data' record",
                'risky_task 的参数是 {"data": {...}, "fail_fast": ...} / risky_task takes {"data": {...}, "fail_fast": ...}',
            )
            expect(
                data.get("address") == BOOK[RETURNED[name]["to"]],
                f"fix() set the address of {name} to {data.get('address')!r}",
                "地址用 ADDRESS_BOOK[to] / use ADDRESS_BOOK[to]",
            )
            expect(
                not data.get("poison"),
                f"fix() kept the poison mark on {name}: {short(data)}",
                '地址改好了，去掉毒数据标记："poison": False / the address is fixed: set "poison": False',
            )
            lost = [k for k in RETURNED[name] if k not in data] + (["fail_fast"] if got.get("fail_fast") is not True else [])
            expect(
                not lost, f"fix() lost {lost} from {name}: {short(got)}", "其它字段原样保留 / keep every other field as it was"
            )
            try:
                get_spec("risky_task").validate(got)
            except InvalidParams as exc:
                raise Fail(
                    f"fix() returned params risky_task does not accept: {exc}",
                    "只改 data 里的字段，不要加别的参数 / change fields inside data only",
                ) from None

    @g.check("改不了的退回 / None when it cannot be fixed", limit=LIMIT)
    def _() -> None:
        unknown = module.fix(copy.deepcopy(entries[parcels["P-3"]]))
        expect(
            unknown is None,
            f"fix() returned {short(unknown)} for a parcel to 'Nobody Known'",
            "收件人不在通讯录里 → None（退回寄件人） / a recipient not in ADDRESS_BOOK → None (back to the sender)",
        )
        other = module.fix(copy.deepcopy(entries[email]))
        expect(
            other is None,
            f"fix() returned {short(other)} for a send_email entry",
            '先看 entry["task"]：只修 risky_task / check entry["task"] first: only risky_task parcels can be fixed',
        )

    @g.check("triage() 清空死信队列 / triage() empties the dead-letter queue", limit=LIMIT)
    def _() -> None:
        result = module.triage(lab.conn)
        outcome["result"] = result
        left = dlq.list_entries(lab.conn)
        expect(
            not left,
            f"after triage() the dead-letter queue still holds {len(left)} entr(ies): {short([e['id'][:8] for e in left])}",
            "每一项都要处理：redrive 或 discard / handle every entry: redrive or discard it",
        )
        expect(
            isinstance(result, dict) and set(result) >= {"redriven", "discarded"},
            f"triage() returned {short(result)}",
            'return {"redriven": [new ids], "discarded": [old ids]}',
        )
        discarded = set(result["discarded"])
        expect(
            discarded == {parcels["P-3"], email},
            f"triage() discarded {len(discarded)} entr(ies); expected 2 (the unknown recipient and the e-mail)",
            "fix() 返回 None 的用 dlq.discard(conn, entry['id']) / discard what fix() returns None for",
        )
        expect(
            len(result["redriven"]) == len(FIXABLE),
            f"triage() redrove {len(result['redriven'])} parcel(s); expected {len(FIXABLE)}",
            "fix() 返回参数的用 dlq.redrive(conn, entry['id'], params) 重新投递 / redrive what fix() corrects",
        )

    @g.check("重新投递的包裹送到了 / the redriven parcels are delivered")
    def _() -> None:
        expect(
            "result" in outcome, "triage() did not finish (see the check above)", "先让 triage() 跑通 / make triage() work first"
        )
        lab.run()
        for new_id in outcome["result"]["redriven"]:
            replay = lab.replay(new_id)
            if replay.dead_lettered:
                raise Fail(
                    f"a redriven parcel came straight back to the dead-letter queue: {errors_of(replay)}",
                    "把改好的参数传给 redrive：dlq.redrive(conn, entry['id'], fix(entry)) / pass the corrected "
                    "params: without them, redrive sends the same poison again",
                )
            expect(replay.state == "completed", f"a redriven parcel ended {replay.state}", "")
            expect(
                replay.redrive_of in {parcels[n] for n in FIXABLE},
                f"the new job {new_id[:8]} is not linked to a fixed parcel (redrive_of={replay.redrive_of!r})",
                "用 dlq.redrive(conn, entry['id'], params)，它会把新旧任务关联起来 / use dlq.redrive: it links the jobs",
            )
            address = (lab.view(new_id)["result"] or {}).get("processed", {}).get("address")
            expect(address in BOOK.values(), f"a redriven parcel was delivered to {address!r}", "地址用 ADDRESS_BOOK[to]")

    @g.check("原件留档 / the originals keep their history")
    def _() -> None:
        for name in FIXABLE:
            history = lab.events(parcels[name])
            last = history[-1]
            expect(
                last.event == "redriven" and last.data.get("corrected") is True,
                f"{name}'s last event is {last.event!r} (corrected={last.data.get('corrected')})",
                "用改好的参数重新投递 / redrive with corrected params",
            )
            expect(
                [e.event for e in history[:-1]] == ["enqueued", "started", "failed", "dead_lettered"],
                f"{name}'s history changed: {[e.event for e in history]}",
                "用 dlq.redrive，不要重新提交旧任务 / use dlq.redrive",
            )
        for job_id in (parcels["P-3"], email):
            last = lab.events(job_id)[-1]
            expect(
                last.event == "discarded",
                f"a parcel that cannot be fixed ended with {last.event!r}",
                "改不了的用 dlq.discard(conn, entry['id']) / discard what cannot be fixed",
            )
