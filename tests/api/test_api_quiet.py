"""A push stream stays open through a long quiet spell (longer than redis-py's 5 s default socket timeout)."""

from __future__ import annotations

import json

from httpx_sse import connect_sse

from labs.session import LabSession


def test_sse_survives_a_quiet_job(client, broker: str, monkeypatch) -> None:
    monkeypatch.setenv("LAB_TIME_SCALE", "0.2")
    with LabSession(workers=1) as lab:
        job = client.post("/tasks", json={"task": "slow_task", "params": {"steps": 1, "step_seconds": 35}})  # 7 s, silent
        assert job.status_code == 202, job.text
        kinds = []
        with connect_sse(client, "GET", job.json()["links"]["stream"]) as source:
            for sse in source.iter_sse():
                if sse.data:
                    kinds.append(sse.event)
                if sse.event == "end":
                    assert json.loads(sse.data)["state"] == "completed"
                    break
        assert kinds[-2:] == ["completed", "end"] and "error" not in kinds
        assert lab.wait(job.json()["id"]).state == "completed"
