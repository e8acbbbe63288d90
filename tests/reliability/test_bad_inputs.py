"""The benchmark's list of bad inputs, fired at a live server: each gets a clear 4xx, none a 5xx."""

from __future__ import annotations

import httpx

from labs import jobs
from labs.session import LabSession
from labs.settings import queue_name
from labs.testing.api_process import ApiServer
from labs.testing.bad_input import fire_bad_inputs, tally
from labs.testing.redis_server import RedisServer


def test_every_bad_input_gets_a_clear_refusal(redis_server: RedisServer, api: ApiServer) -> None:
    with LabSession(workers=2, kind="simple", queue=queue_name()) as lab:  # the API process sends to the lab queue
        job_id = lab.submit("slow_task", {"steps": 2000, "step_seconds": 1})  # keeps the WebSocket calls open
        answers = fire_bad_inputs(api.url, lab.conn, job_id, max_upload_bytes=1024 * 1024)
        jobs.cancel(lab.conn, job_id)  # let the worker go
        assert len(answers) >= 25
        unclear = [(a.name, a.status, a.message) for a in answers if not a.clear_4xx or a.server_error]
        assert unclear == []
        assert tally(answers) == {"tried": len(answers), "4xx": len(answers), "5xx": 0}
        assert httpx.get(api.url + "/health").json()["status"] == "ok"  # and it still serves
