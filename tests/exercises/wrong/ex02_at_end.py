"""Wrong on purpose: all the progress reports come after all the work (nothing while the job runs)."""

from __future__ import annotations

from labs.exercises.ex02_progress import pack
from labs.progress import progress


def pack_parcels(parcels):
    for parcel in parcels:
        pack(parcel)
    for done, parcel in enumerate(parcels, start=1):
        progress(done, len(parcels), f"packed {parcel} ({done}/{len(parcels)})")
    return {"packed": len(parcels)}
