"""练习 1：指数退避（带抖动和上限） / Exercise 1: exponential backoff with jitter and a cap

课程 / lesson: notebooks/04_retries.ipynb
检查 / check:  python -m labs check ex01

中文
----
快递第一次没送到，等 1 小时再送；还没送到，等 2 小时；再等 4 小时……（类比6：快递重新投递）。
写 ``backoff_delays``：返回每次重试之前要等待的秒数，一次重试一个数。

- 第 n 次重试（n 从 0 开始数）等待 ``base * factor ** n`` 秒；
- 任何一次等待都不能超过上限 ``cap`` 秒；
- ``jitter=True`` 时用“完全抖动”（full jitter）：在 ``[0, 上面算出的等待]`` 之间均匀地随机取一个数。
  随机数用参数 ``rng``（一个 ``random.Random``）来取，这样同一个种子得到同一张时间表；
  ``rng`` 是 None 时用 ``random`` 模块。抖动让一千个同时失败的任务不会在同一秒一起重试（“惊群”）。
- ``retries=0`` 时返回空列表。

English
-------
A parcel that was not delivered is tried again after 1 hour, then 2, then 4... (analogy 6:
redelivery). Write ``backoff_delays``: the wait in seconds before each retry, one number per retry.

- retry n (counting from 0) waits ``base * factor ** n`` seconds;
- no wait is longer than ``cap`` seconds;
- with ``jitter=True`` use *full jitter*: a uniformly random number in ``[0, that wait]``, drawn
  from ``rng`` (a ``random.Random``) so that one seed gives one schedule; when ``rng`` is None use
  the ``random`` module. Jitter keeps a thousand jobs that failed together from all retrying in
  the same second (the thundering herd).
- ``retries=0`` gives an empty list.

例 / Example::

    >>> backoff_delays(5, base=1, factor=2, cap=10)
    [1, 2, 4, 8, 10]
"""

from __future__ import annotations

import random


def backoff_delays(
    retries: int,
    base: float = 1.0,
    factor: float = 2.0,
    cap: float = 60.0,
    jitter: bool = False,
    rng: random.Random | None = None,
) -> list[float]:
    """The waits (seconds) before retry 1, 2, ... ``retries``."""
    raise NotImplementedError("写在这里 / your code here")
