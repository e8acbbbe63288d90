"""练习 4：四状态的状态机校验器 / Exercise 4: a validator for the four-state machine

课程 / lesson: notebooks/02_task_states.ipynb
检查 / check:  python -m labs check ex04

中文
----
快递物流：已下单（pending）→ 运输中（running）→ 已签收（completed）或 派送失败（failed）
（类比4：快递物流状态）。实验室把每个任务的每一次变化记成一个事件，每个事件让任务处于
四个状态之一。一个任务的状态序列（比如 ``["pending", "running", "running", "completed"]``）
必须符合下面的规则：

- 第一个事件（前面没有状态，``previous`` 是 ``None``）必须是 ``pending``；
- ``pending`` 后面可以是 ``pending``、``running``，或 ``failed``（还没开始就被取消了）；
- ``running`` 后面可以是 ``running``（进度更新）、``pending``（这次失败了，预约重新投递）、
  ``completed`` 或 ``failed``；
- ``completed`` 和 ``failed`` 是终态，不可逆：后面只能还是它自己（比如“已进入死信队列”
  这样的备注事件）。重新投递一个失败的任务会得到一个**新**任务，旧任务永远是 failed；
- 四个状态以外的名字（比如 ``"archived"``）一律不合法。

写两个函数：

1. ``can_follow(previous, state) -> bool``：``state`` 能不能紧跟在 ``previous`` 后面；
2. ``first_invalid(states) -> int | None``：第一个不合法的状态的下标；全部合法（包括空列表）返回 ``None``。

English
-------
A parcel is ordered (pending), in transit (running), then signed for (completed) or not
delivered (failed) (analogy 4). The lab records every change of every job as an event, and each
event leaves the job in one of four states. A job's sequence of states (for example
``["pending", "running", "running", "completed"]``) must follow these rules:

- the first event (no previous state: ``previous`` is ``None``) is ``pending``;
- ``pending`` may be followed by ``pending``, ``running``, or ``failed`` (cancelled before it started);
- ``running`` may be followed by ``running`` (a progress update), ``pending`` (this delivery
  failed, a redelivery is booked), ``completed`` or ``failed``;
- ``completed`` and ``failed`` are terminal, there is no way back: only the same state may
  follow (annotations such as "sent to the dead-letter queue"). Redriving a failed job makes a
  *new* job; the old one stays failed;
- any name other than the four states (``"archived"``, say) is never valid.

Write two functions:

1. ``can_follow(previous, state) -> bool``: may ``state`` come right after ``previous``?
2. ``first_invalid(states) -> int | None``: the index of the first state that breaks the rules;
   ``None`` when they are all valid (an empty list too).

(``labs/states.py`` has the lab's own version: write yours first, then compare.)
"""

from __future__ import annotations

PENDING, RUNNING, COMPLETED, FAILED = "pending", "running", "completed", "failed"


def can_follow(previous: str | None, state: str) -> bool:
    """True when ``state`` may come right after ``previous`` (``None``: ``state`` is the first)."""
    raise NotImplementedError("写在这里 / your code here")


def first_invalid(states: list[str]) -> int | None:
    """The index of the first state that may not follow the one before it, or None."""
    raise NotImplementedError("写在这里 / your code here")
