"""参考答案 / reference solution: exercise 7, the returns centre: fix and redrive."""

from __future__ import annotations

from typing import Any

import redis

from labs import dlq

ADDRESS_BOOK = {
    "Li Lei": "12 Zhongshan Road, Guangzhou",
    "Han Meimei": "8 Nanjing Road, Shanghai",
    "Wang Fang": "3 Chang'an Avenue, Beijing",
}


def fix(entry: dict[str, Any]) -> dict[str, Any] | None:
    """Corrected params for one returned parcel, or None when it cannot be fixed."""
    if entry.get("task") != "risky_task":
        return None
    params = entry.get("params") or {}
    data = params.get("data") or {}
    address = ADDRESS_BOOK.get(data.get("to", ""))
    if address is None:
        return None  # nobody knows this recipient: back to the sender
    # new dicts: the entry stays the record of what failed
    return {**params, "data": {**data, "address": address, "poison": False}}


def triage(conn: redis.Redis) -> dict[str, list[str]]:
    """Redrive every entry ``fix`` can correct, discard the rest; return the ids."""
    outcome: dict[str, list[str]] = {"redriven": [], "discarded": []}
    for entry in dlq.list_entries(conn):
        params = fix(entry)
        if params is None:
            dlq.discard(conn, entry["id"])
            outcome["discarded"].append(entry["id"])
        else:
            outcome["redriven"].append(dlq.redrive(conn, entry["id"], params))
    return outcome
