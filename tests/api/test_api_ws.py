"""WebSocket: events out, commands in (cancel, ping, resume), heartbeat, errors that keep the line up."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from api_helpers import LiveServer, submit, wait_event
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import connect

from labs import events
from labs.session import LabSession


def next_frame(ws: Any) -> dict[str, Any]:
    """The next frame that is not a heartbeat (one may come at any time)."""
    while (frame := ws.receive_json())["type"] == "heartbeat":
        pass
    return frame


def frames_until_close(ws: Any) -> tuple[list[dict[str, Any]], int]:
    """Every frame the server sends until it hangs up, and the close code."""
    frames = []
    while True:
        try:
            frames.append(ws.receive_json())
        except WebSocketDisconnect as closed:
            return frames, closed.code


def test_cancel_over_the_socket_stops_the_job_and_the_client_sees_it(lab: LabSession, client: TestClient) -> None:
    job_id = submit(client, "slow_task", {"steps": 400, "step_seconds": 1})
    with client.websocket_connect(f"/ws/tasks/{job_id}") as ws:
        snapshot = ws.receive_json()
        assert snapshot["type"] == "snapshot" and snapshot["job"]["id"] == job_id and "events" not in snapshot["job"]
        progress = 0
        while progress < 3:
            frame = ws.receive_json()
            progress += frame["type"] == "event" and frame["event"] == "progress"
        ws.send_json({"action": "cancel"})
        frames, code = frames_until_close(ws)
    assert code == 1000
    assert {"type": "ack", "action": "cancel", "state": "running"} in frames
    sent = [f for f in frames if f["type"] == "event"]
    assert sent[-1]["event"] == "cancelled" and sent[-1]["state"] == "failed" and sent[-1]["reason"] == "cancelled"
    assert frames[-1] == {"type": "end", "state": "failed", "last_event_id": sent[-1]["id"]}  # seen before the close
    history = events.job_events(lab.conn, job_id)
    assert history[-1].event == "cancelled" and sum(e.event == "progress" for e in history) < 400


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_malformed_messages_get_error_frames_and_the_call_goes_on(client: TestClient) -> None:
    job_id = submit(client, "slow_task")  # no worker: it waits, the line stays open
    with client.websocket_connect(f"/ws/tasks/{job_id}") as ws:
        assert next_frame(ws)["type"] == "snapshot"
        assert next_frame(ws)["event"] == "enqueued"
        for bad, expected in [
            ("not json", "not JSON"),
            ("[1, 2]", "a message is a JSON object"),
            ('{"action": "dance"}', "unknown action 'dance'; use one of: cancel, ping, resume"),
            ('{"no": "action"}', "a message needs an 'action': one of cancel, ping, resume"),
            ('{"action": "resume"}', "resume needs 'after'"),
            ('{"action": "resume", "after": "../etc"}', "is not an event id"),
        ]:
            ws.send_text(bad)
            frame = next_frame(ws)
            assert frame["type"] == "error" and expected in frame["error"], frame
        ws.send_bytes(b"\x00\x01")
        assert "send text frames" in next_frame(ws)["error"]
        ws.send_json({"action": "ping", "ts": 42})
        pong = next_frame(ws)
        assert pong["type"] == "pong" and pong["echo"] == 42
        ws.send_json({"action": "cancel"})  # still up: cancel the waiting job
        frames, code = frames_until_close(ws)
    assert code == 1000
    assert [f.get("event") for f in frames if f["type"] == "event"] == ["cancelled"]
    assert frames[-1]["type"] == "end" and frames[-1]["state"] == "failed"


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_unknown_job_and_bad_resume_point_close_with_a_reason(client: TestClient) -> None:
    with client.websocket_connect("/ws/tasks/0123abc") as ws:
        assert ws.receive_json() == {"type": "error", "error": "no job with id '0123abc'"}
        assert frames_until_close(ws) == ([], 4404)
    job_id = submit(client, "noop")
    with client.websocket_connect(f"/ws/tasks/{job_id}?after=soon") as ws:
        assert "is not an event id" in ws.receive_json()["error"]
        assert frames_until_close(ws)[1] == 4422


async def _follow(url: str, job_id: str) -> dict[str, Any]:
    """A real client: follow the job, ping, ask to replay from the second event, read until the close."""
    frames: list[dict[str, Any]] = []
    async with connect(f"{url}/ws/tasks/{job_id}") as ws:
        resumed = False
        async for raw in ws:
            frame = json.loads(raw)
            frames.append(frame)
            if frame["type"] == "event" and frame["event"] == "progress" and frame["progress"]["done"] == 2 and not resumed:
                resumed = True
                second = [f for f in frames if f["type"] == "event"][1]["id"]
                await ws.send(json.dumps({"action": "ping", "ts": "t1"}))
                await ws.send(json.dumps({"action": "resume", "after": second}))
        return {"frames": frames, "code": ws.close_code, "second": second}


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_a_real_websocket_client_follows_pings_and_resumes(lab: LabSession, live_api: LiveServer) -> None:
    import httpx

    with httpx.Client(base_url=live_api.url) as http:
        job_id = submit(http, "slow_task", {"steps": 24, "step_seconds": 1})  # 1.2 s: longer than a heartbeat
        result = asyncio.run(_follow(live_api.ws_url, job_id))
        wait_event(http, job_id, "completed")
    frames, code = result["frames"], result["code"]
    assert code == 1000
    types = [f["type"] for f in frames]
    assert types[0] == "snapshot" and types[-1] == "end" and "heartbeat" in types
    assert any(f["type"] == "pong" and f["echo"] == "t1" for f in frames)
    ack = types.index("ack")
    history = [e.id for e in events.job_events(lab.conn, job_id)]
    assert result["second"] == history[1]
    assert frames[ack] == {"type": "ack", "action": "resume", "after": history[1]}
    before = [f["id"] for f in frames[:ack] if f["type"] == "event"]
    after = [f["id"] for f in frames[ack:] if f["type"] == "event"]
    assert before == history[: len(before)]  # in order, no gap, up to the resume
    assert after == history[2:]  # the replay: everything after the second event, to the end
