"""练习 2：让任务报告进度 / Exercise 2: make a job report its progress

课程 / lesson: notebooks/03_progress.ipynb
检查 / check:  python -m labs check ex02

中文
----
下载文件时有进度条：已下载 10MB → 10%，50MB → 50%（类比5：下载进度条）。
``pack_parcels(parcels)`` 是一个真正的任务，由 worker 进程运行。它现在一声不响地把活干完，
用户只能干等。请让它边干边报告进度：每打包完一个包裹，就调用一次
``progress(已完成数, 总数, 消息)``（从 ``labs.progress`` 导入，已经导入好了）。

- 每个包裹处理完之后报告一次：已完成数从 1 数到 ``len(parcels)``，总数一直是 ``len(parcels)``；
- 消息里写上刚打包好的包裹名，比如 ``"packed P-1 (1/3)"``；
- 要边做边报告，不要全部做完再一起报：如果第 4 个包裹坏了（``pack`` 抛出异常），
  用户应该已经看到了 3 个包裹的进度；
- 返回 ``{"packed": 打包好的包裹数}``；空列表也要能正常完成（返回 ``{"packed": 0}``）。

``progress()`` 把进度写进任务的 meta 和事件日志（API 和仪表盘从那里读），
还会顺便检查“有人要取消这个任务吗？”——所以经常调用它，任务也就能被及时取消。

English
-------
A download shows a progress bar: 10 MB of 100 MB is 10% (analogy 5). ``pack_parcels(parcels)``
is a real job that a worker process runs. Today it works silently and the user can only wait.
Make it report progress as it goes: after packing each parcel, call
``progress(done, total, message)`` (imported from ``labs.progress`` below).

- report once after each parcel: ``done`` counts from 1 to ``len(parcels)``, ``total`` is
  always ``len(parcels)``;
- name the parcel you just packed in the message, e.g. ``"packed P-1 (1/3)"``;
- report while working, not all at the end: if parcel 4 is broken (``pack`` raises), the
  user has already seen 3 parcels' progress;
- return ``{"packed": number of parcels packed}``; an empty list completes with ``{"packed": 0}``.

``progress()`` writes the progress into the job's meta and the event log (where the API and
the dashboard read it) and checks whether someone asked to cancel the job, so calling it
often also makes the job cancellable.
"""

from __future__ import annotations

from typing import Any

from labs.clock import sleep
from labs.errors import PoisonInput
from labs.progress import progress  # noqa: F401 - 你会用到它 / you will need it


def pack(parcel: str) -> None:
    """Pack one parcel (already written). It takes a moment; a parcel named ``broken...`` cannot be packed."""
    sleep(0.2)
    if parcel.startswith("broken"):
        raise PoisonInput(f"parcel {parcel!r} is broken and cannot be packed")


def pack_parcels(parcels: list[str]) -> dict[str, Any]:
    """The job: pack every parcel, reporting progress after each one.

    今天的版本能干活，但什么都不报告 / today's version works but reports nothing::

        for parcel in parcels:
            pack(parcel)
        return {"packed": len(parcels)}
    """
    raise NotImplementedError("写在这里 / your code here")
