"""参考答案 / reference solution: exercise 2, make a job report its progress."""

from __future__ import annotations

from typing import Any

from labs.clock import sleep
from labs.errors import PoisonInput
from labs.progress import progress


def pack(parcel: str) -> None:
    """Pack one parcel (already written). It takes a moment; a parcel named ``broken...`` cannot be packed."""
    sleep(0.2)
    if parcel.startswith("broken"):
        raise PoisonInput(f"parcel {parcel!r} is broken and cannot be packed")


def pack_parcels(parcels: list[str]) -> dict[str, Any]:
    """The job: pack every parcel, reporting progress after each one."""
    total = len(parcels)
    for done, parcel in enumerate(parcels, start=1):  # count from 1: the last report is total/total
        pack(parcel)
        progress(done, total, f"packed {parcel} ({done}/{total})")  # after the work, so it is true
    return {"packed": total}
