"""Checks for exercise 1: exponential backoff with jitter and a cap (a plain function)."""

from __future__ import annotations

import math
import random
from types import ModuleType

from ...retry import RetryPolicy
from ..grading import Fail, Grader, expect, short

LIMIT = 10.0

REQUIRED = ("backoff_delays",)
"""What the exercise file must define."""


def _close(got: list[float], want: list[float]) -> bool:
    return len(got) == len(want) and all(math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-9) for g, w in zip(got, want, strict=True))


def _numbers(value: object, call: str) -> list[float]:
    expect(isinstance(value, list), f"{call} returned {short(value)}, not a list", "返回一个列表 / return a list of numbers")
    assert isinstance(value, list)
    bad = [v for v in value if isinstance(v, bool) or not isinstance(v, int | float)]
    expect(not bad, f"{call} returned {short(value)}: {short(bad[:1])} is not a number", "每个元素是秒数 / each item is seconds")
    return [float(v) for v in value]


def check(module: ModuleType, g: Grader) -> None:
    backoff = module.backoff_delays

    @g.check("每次重试一个等待 / one wait per retry", limit=LIMIT)
    def _() -> None:
        for retries in (4, 1, 0):
            got = _numbers(backoff(retries), f"backoff_delays({retries})")
            expect(
                len(got) == retries,
                f"backoff_delays({retries}) returned {len(got)} waits: {short(got)}",
                "列表的长度就是重试次数 / the list has one wait per retry: range(retries)",
            )

    @g.check("指数增长 / each wait is factor times the last", limit=LIMIT)
    def _() -> None:
        cases = [
            ((4,), {"base": 1, "factor": 2, "cap": 100}, [1, 2, 4, 8]),
            ((3,), {"base": 0.5, "factor": 3, "cap": 100}, [0.5, 1.5, 4.5]),
            ((3,), {"base": 60, "factor": 2, "cap": 3600}, [60, 120, 240]),
        ]
        for args, kwargs, want in cases:
            call = f"backoff_delays({args[0]}, base={kwargs['base']}, factor={kwargs['factor']}, cap={kwargs['cap']})"
            got = _numbers(backoff(*args, **kwargs), call)
            if _close(got, want):
                continue
            if _close(got, [w * kwargs["factor"] for w in want]):
                raise Fail(
                    f"{call} returned {short(got)}, expected {want}",
                    "第一次重试等 base 秒：n 从 0 开始 / the first retry waits base: n starts at 0 (base * factor ** 0)",
                )
            raise Fail(
                f"{call} returned {short(got)}, expected {want}",
                "第 n 次重试等 base * factor ** n 秒 / retry n waits base * factor ** n",
            )

    @g.check("上限 / no wait exceeds the cap", limit=LIMIT)
    def _() -> None:
        call = "backoff_delays(6, base=1, factor=2, cap=5)"
        got = _numbers(backoff(6, base=1, factor=2, cap=5), call)
        over = max(got, default=0)
        expect(
            over <= 5 + 1e-9,
            f"{call} returned {short(got)}: {over:g} s is longer than the cap of 5 s",
            "用 min(cap, ...) 给每次等待封顶 / cap every wait: min(cap, base * factor ** n)",
        )
        expect(
            _close(got, [1, 2, 4, 5, 5, 5]),
            f"{call} returned {short(got)}, expected [1, 2, 4, 5, 5, 5]",
            "到了上限就一直等 cap 秒 / once it reaches the cap, every wait is the cap",
        )
        policy = RetryPolicy(max_retries=8, base=0.5, factor=3, cap=40)
        call = "backoff_delays(8, base=0.5, factor=3, cap=40)"
        got = _numbers(backoff(8, base=0.5, factor=3, cap=40), call)
        expect(
            _close(got, policy.delays()),
            f"{call} returned {short(got)}, the lab plans {policy.delays()}",
            "和 labs/retry.py 的 RetryPolicy.delays() 对照一下 / compare with RetryPolicy.delays() in labs/retry.py",
        )

    @g.check("抖动不超出范围 / jitter stays within [0, wait]", limit=LIMIT)
    def _() -> None:
        rng = random.Random(7)
        for _ in range(200):
            got = _numbers(backoff(8, base=1, factor=2, cap=20, jitter=True, rng=rng), "backoff_delays(8, ..., jitter=True)")
            expect(
                len(got) == 8,
                f"with jitter=True, backoff_delays(8, ...) returned {len(got)} waits",
                "抖动不改变重试次数 / jitter does not change how many retries there are",
            )
            for n, delay in enumerate(got):
                ceiling = min(20, 2**n)
                expect(
                    0 <= delay <= ceiling + 1e-9,
                    f"with jitter, wait {n} was {delay:.3f} s; it must be between 0 and {ceiling} s (cap 20)",
                    "完全抖动：random.uniform(0, min(cap, base * factor ** n))，先封顶再抖动 / "
                    "full jitter: uniform(0, min(cap, ...)): cap first, then jitter",
                )

    @g.check("抖动真的随机，且用 rng / jitter is random, and drawn from rng", limit=LIMIT)
    def _() -> None:
        plain = backoff(6, base=1, factor=2, cap=30)
        one = backoff(6, base=1, factor=2, cap=30, jitter=True, rng=random.Random(1))
        again = backoff(6, base=1, factor=2, cap=30, jitter=True, rng=random.Random(1))
        other = backoff(6, base=1, factor=2, cap=30, jitter=True, rng=random.Random(2))
        expect(
            one != plain,
            f"jitter=True gave the same waits as jitter=False: {short(one)}",
            "jitter=True 时要随机取值 / with jitter=True, draw each wait at random",
        )
        expect(
            one == again,
            f"the same seed gave two different schedules: {short(one)} and {short(again)}",
            "用参数 rng 取随机数（rng.uniform），不要用 random 模块 / draw from the rng argument (rng.uniform)",
        )
        expect(
            one != other,
            f"two different seeds gave the same schedule {short(one)}",
            "用参数 rng 取随机数 / draw each wait from rng",
        )
        rng = random.Random(3)
        last = [backoff(4, base=1, factor=2, cap=8, jitter=True, rng=rng)[-1] for _ in range(2000)]
        mean, low = sum(last) / len(last), min(last)
        expect(
            2.8 <= mean <= 5.2 and low < 1.0,
            f"the capped wait of 8 s, jittered 2000 times, averaged {mean:.2f} s (lowest {low:.2f} s); "
            "full jitter averages 4 s and sometimes waits almost 0",
            "完全抖动是 uniform(0, wait)，不是 wait + 随机数，也不是 wait/2 + 随机数 / "
            "full jitter is uniform(0, wait): not wait + random, not wait/2 + random",
        )
