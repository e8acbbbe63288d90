"""练习 7：退件处理中心——修好再投递 / Exercise 7: the returns centre, fix and redrive

课程 / lesson: notebooks/05_dead_letter_queue.ipynb
检查 / check:  python -m labs check ex07

中文
----
投递失败的包裹会被送到退件处理中心（死信队列，类比7）。那里的工作人员要逐个处理：
地址能改对的，改好地址重新投递；改不了的，退回寄件人（丢弃）。

死信队列里有几个 ``risky_task`` 包裹：它们的地址没通过校验，所以被标成了毒数据
``"poison": True``，只投递一次就进了死信队列。记录长这样::

    {"parcel": "P-7", "to": "Li Lei", "address": "", "poison": True}

写两个函数：

1. ``fix(entry) -> dict | None``：``entry`` 是 ``labs.dlq.list_entries(conn)`` 返回的一项
   （有 ``"id"``、``"task"``、``"params"``、``"reason"``、``"error"`` 等）。
   如果它是 ``risky_task``，并且收件人 ``params["data"]["to"]`` 在通讯录 ``ADDRESS_BOOK`` 里，
   就返回**改好的参数**：地址换成通讯录里的，去掉毒数据标记（``"poison": False``），
   其它字段（包裹号、``fail_fast`` 等）原样保留；不要修改传进来的 ``entry``。
   其它情况（收件人不认识，或者根本不是 ``risky_task``）返回 ``None``。
2. ``triage(conn) -> {"redriven": [...], "discarded": [...]}``：处理死信队列里的每一项：
   ``fix`` 返回参数的，用 ``labs.dlq.redrive(conn, entry["id"], 改好的参数)`` 重新投递
   （它返回新任务的 id，记进 ``"redriven"``）；返回 ``None`` 的用 ``labs.dlq.discard(conn, entry["id"])``
   丢弃（把原来的 id 记进 ``"discarded"``）。

重新投递会建一个**新**任务（新的快递单号），和原来的任务关联起来；原来任务的历史不会改变。

English
-------
Parcels that could not be delivered end up in the returns centre (the dead-letter queue,
analogy 7). Its staff handle them one by one: when the address can be corrected, they correct
it and send the parcel again; otherwise it goes back to the sender (discarded).

The dead-letter queue holds some ``risky_task`` parcels whose address failed validation, so
they were marked as poison (``"poison": True``) and went to the queue after one delivery. A
record looks like the one above.

Write two functions:

1. ``fix(entry) -> dict | None``: ``entry`` is one item of ``labs.dlq.list_entries(conn)`` (with
   ``"id"``, ``"task"``, ``"params"``, ``"reason"``, ``"error"``, ...). When it is a
   ``risky_task`` whose recipient ``params["data"]["to"]`` is in ``ADDRESS_BOOK``, return the
   **corrected params**: the address from the book, the poison mark removed (``"poison": False``),
   every other field (the parcel number, ``fail_fast``, ...) kept; do not change the ``entry``
   you were given. Otherwise (an unknown recipient, or not a ``risky_task`` at all) return ``None``.
2. ``triage(conn) -> {"redriven": [...], "discarded": [...]}``: handle every entry of the
   dead-letter queue: when ``fix`` gives params, redrive it with
   ``labs.dlq.redrive(conn, entry["id"], corrected_params)`` (it returns the new job's id: list
   it under ``"redriven"``); when ``fix`` gives ``None``, ``labs.dlq.discard(conn, entry["id"])``
   it (list the old id under ``"discarded"``).

A redrive is a *new* job (a new tracking number) linked to the old one; the old job's history
never changes.
"""

from __future__ import annotations

from typing import Any

import redis

from labs import dlq  # noqa: F401 - 你会用到它 / you will need it

ADDRESS_BOOK = {
    "Li Lei": "12 Zhongshan Road, Guangzhou",
    "Han Meimei": "8 Nanjing Road, Shanghai",
    "Wang Fang": "3 Chang'an Avenue, Beijing",
}


def fix(entry: dict[str, Any]) -> dict[str, Any] | None:
    """Corrected params for one returned parcel, or None when it cannot be fixed."""
    raise NotImplementedError("写在这里 / your code here")


def triage(conn: redis.Redis) -> dict[str, list[str]]:
    """Redrive every entry ``fix`` can correct, discard the rest; return the ids."""
    raise NotImplementedError("写在这里 / your code here")
