"""Wrong on purpose: progress counted from 0, so the last report says 3/4 and the bar never reaches 100%."""

from __future__ import annotations

from labs.exercises.ex02_progress import pack
from labs.progress import progress


def pack_parcels(parcels):
    for done, parcel in enumerate(parcels):  # should be start=1
        pack(parcel)
        progress(done, len(parcels), f"packed {parcel}")
    return {"packed": len(parcels)}
