"""Workers SIGKILLed mid-job, again and again: every job still ends, none is lost or stuck."""

from __future__ import annotations

from collections import Counter

from labs import events
from labs.session import LabSession
from labs.testing.accounting import wait_terminal
from labs.testing.kills import kill_workers_mid_job
from labs.testing.redis_server import RedisServer

KILLS = 10


def test_workers_killed_mid_job_ten_times_lose_nothing(redis_server: RedisServer) -> None:
    with LabSession(workers=2, kind="fork") as lab:
        ids = [
            lab.submit("slow_task", {"steps": 40, "step_seconds": 1}, retry={"max_retries": 2, "base": 0.2}) for _ in range(20)
        ]
        kills = kill_workers_mid_job(lab, KILLS, timeout=60)
        assert len(kills) == KILLS
        assert len(lab.live_names()) == 2  # a fresh worker replaced each victim

        result = wait_terminal(lab.conn, ids, timeout=180)
        assert result.lost == [] and result.stuck == [], result
        assert set(result.counts) <= {"completed", "failed"} and result.total == len(ids)

        killed = Counter(kill.job_id for kill in kills)
        for job_id in ids:
            history = events.job_events(lab.conn, job_id)
            replay = events.replay(history)  # also checks every transition is a legal one
            names = [e.event for e in history if e.event != "progress"]
            # each kill shows as one abandoned attempt, and nothing else is abandoned
            assert names.count("abandoned") == killed[job_id], (job_id, names)
            if replay.state == "completed":
                assert names[-2:] == ["started", "completed"], names
            else:  # killed more often than its retries allow: dead-lettered
                assert names[-3:] == ["abandoned", "failed", "dead_lettered"], names
                assert killed[job_id] == 3
            for victim in {kill.worker for kill in kills if kill.job_id == job_id}:
                assert any(e.event == "started" and e.worker == victim for e in history)
