"""Redis restarted mid-run: workers, the API and an SSE client carry on by themselves."""

from __future__ import annotations

from labs import events
from labs.session import LabSession
from labs.testing.accounting import account, wait_terminal
from labs.testing.api_process import ApiServer
from labs.testing.follower import SseFollower
from labs.testing.redis_server import RedisServer
from labs.testing.waiting import wait_until


def test_workers_api_and_sse_clients_survive_a_redis_restart(redis_server: RedisServer, api: ApiServer) -> None:
    firehose = SseFollower(api.url).start()
    followers: list[SseFollower] = []
    try:
        wait_until(lambda: 200 in firehose.statuses, 20, what="the firehose connected")
        with LabSession(workers=2, kind="fork") as lab:
            ids = [
                lab.submit("slow_task", {"steps": 60, "step_seconds": 1}, retry={"max_retries": 2, "base": 0.2}) for _ in range(6)
            ]
            followers = [SseFollower(api.url, job_id).start() for job_id in ids[:3]]
            # jobs in flight: two running with some progress, the others waiting
            wait_until(lambda: account(lab.conn, ids).counts.get("running", 0) == 2, 30, what="two jobs running")
            wait_until(lambda: all(f.events for f in followers), 30, what="every follower got events")

            redis_server.restart(down_for=2.0)

            result = wait_terminal(lab.conn, ids, timeout=120)
            assert result.lost == [] and result.stuck == [], result
            assert result.counts == {"completed": len(ids)}
            # nobody restarted the workers: they reconnected by themselves
            assert len(lab.live_names()) == 2

            for job_id, follower in zip(ids, followers, strict=False):
                assert follower.wait(30), (job_id, follower.statuses, follower.errors)
                assert follower.connections >= 2, follower.statuses  # the restart did cut the stream
                recorded = [e.id for e in events.job_events(lab.conn, job_id)]
                assert [e["id"] for e in follower.events] == recorded  # no gap, no duplicate

            wait_until(
                lambda: sum(e["event"] == "completed" and e["job_id"] in ids for e in firehose.events) == len(ids),
                30,
                what="the firehose saw every completion",
            )
            assert firehose.connections >= 2, firehose.statuses
            for job_id in ids:
                seen = [e["id"] for e in firehose.events if e["job_id"] == job_id]
                assert seen == [e.id for e in events.job_events(lab.conn, job_id)]
        assert api.proc is not None and api.proc.poll() is None  # the same API process throughout
    finally:
        firehose.stop()
        for follower in followers:
            follower.stop()
