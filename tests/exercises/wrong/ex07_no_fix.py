"""Wrong on purpose: fix() is right, but triage() redrives the original params (the same poison again)."""

from __future__ import annotations

from labs import dlq
from labs.exercises.ex07_redrive import ADDRESS_BOOK


def fix(entry):
    if entry.get("task") != "risky_task":
        return None
    params = entry["params"]
    data = params.get("data", {})
    if data.get("to") not in ADDRESS_BOOK:
        return None
    return {**params, "data": {**data, "address": ADDRESS_BOOK[data["to"]], "poison": False}}


def triage(conn):
    outcome = {"redriven": [], "discarded": []}
    for entry in dlq.list_entries(conn):
        if fix(entry) is None:
            dlq.discard(conn, entry["id"])
            outcome["discarded"].append(entry["id"])
        else:
            outcome["redriven"].append(dlq.redrive(conn, entry["id"]))  # without the corrected params
    return outcome
