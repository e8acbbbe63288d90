"""练习 3：哪些错误值得重试？ / Exercise 3: which errors are worth retrying?

课程 / lesson: notebooks/04_retries.ipynb, notebooks/05_dead_letter_queue.ipynb
检查 / check:  python -m labs check ex03

中文
----
快递没送到，原因有两种：收件人不在家（过一会儿再送就行，值得重新投递），或者地址根本不存在
（送一百次也送不到，应该马上送去退件处理中心）。任务失败也一样：

- 暂时性的错误 → 值得重试：超时 ``TimeoutError``、连接失败 ``ConnectionError``
  （比如 SMTP 服务器说 421，实验室的 ``SMTPTemporaryError`` 就是一种 ``ConnectionError``）；
- 输入本身有问题 → 重试没用：``ValueError``、``TypeError``、``KeyError``，以及实验室的
  ``PermanentError``（包括它的子类 ``PoisonInput``）；
- 其它没见过的错误 → 重试（拿不准就重试：反正重试次数有上限，最后还是会进死信队列）。

1. 写 ``is_retryable(exc) -> bool``：按上面的规则判断一个异常值不值得重试（注意子类！）。
2. 写任务 ``deliver(parcel)``：调用 ``ship(parcel)``（已经写好）并返回它的结果。
   如果 ``ship`` 抛出的错误不值得重试，就改抛 ``PermanentError``，并保留原来的错误信息
   （``raise PermanentError(str(exc)) from exc``）——实验室的 worker 看到 ``PermanentError``
   就不再重试，任务只投递一次就进入死信队列；值得重试的错误原样抛出（``raise``），
   worker 会按重试计划重新投递。

English
-------
A parcel is not delivered for one of two reasons: nobody was home (try again later: worth a
redelivery) or the address does not exist (a hundred tries will not help: send it to the
returns centre at once). Failed jobs are the same:

- transient errors are worth retrying: ``TimeoutError``, ``ConnectionError`` (an SMTP server
  saying 421: the lab's ``SMTPTemporaryError`` is a ``ConnectionError``);
- errors about the input itself are not: ``ValueError``, ``TypeError``, ``KeyError`` and the
  lab's ``PermanentError`` (and its subclass ``PoisonInput``);
- anything else: retry (when unsure, retry: the retries are limited, so it still reaches the
  dead-letter queue in the end).

1. Write ``is_retryable(exc) -> bool`` by those rules (mind the subclasses!).
2. Write the job ``deliver(parcel)``: call ``ship(parcel)`` (already written) and return its
   result. If ``ship`` raises an error that is not worth retrying, raise ``PermanentError``
   instead, keeping the original message (``raise PermanentError(str(exc)) from exc``): the
   lab's worker does not redeliver a ``PermanentError``, so the job goes to the dead-letter
   queue after one delivery. Re-raise a retryable error unchanged (``raise``) and the worker
   redelivers it on its retry schedule.
"""

from __future__ import annotations

from typing import Any

from labs.errors import PermanentError  # noqa: F401 - 你会用到它 / you will need it
from labs.tasks.demo import SMTPTemporaryError, current_attempt


def ship(parcel: dict[str, Any]) -> dict[str, Any]:
    """Try to deliver a parcel (already written).

    ``parcel["problem"]`` says what goes wrong: "none", "timeout", "connection", "bad_address",
    "missing_field" or "wrong_type"; it goes wrong on the first ``parcel["fail_times"]``
    deliveries (every time when it is missing).
    """
    problem = parcel.get("problem", "none")
    attempt = current_attempt()
    if problem != "none" and attempt <= parcel.get("fail_times", 1_000):
        if problem == "timeout":
            raise TimeoutError(f"the courier timed out on delivery {attempt}")
        if problem == "connection":
            raise SMTPTemporaryError(f"421 depot.example.com not available (delivery {attempt})")
        if problem == "bad_address":
            raise ValueError(f"address {parcel.get('address', '')!r} does not exist")
        if problem == "missing_field":
            raise KeyError("postcode")
        if problem == "wrong_type":
            raise TypeError(f"weight must be a number, got {parcel.get('weight')!r}")
        raise RuntimeError(f"unexpected problem {problem!r}")
    return {"delivered": parcel.get("id", "?"), "attempt": attempt}


def is_retryable(exc: BaseException) -> bool:
    """True when retrying may help (a transient error), False when it cannot (the input is bad)."""
    raise NotImplementedError("写在这里 / your code here")


def deliver(parcel: dict[str, Any]) -> dict[str, Any]:
    """The job: ``ship(parcel)``; turn an error that is not worth retrying into a ``PermanentError``."""
    raise NotImplementedError("写在这里 / your code here")
