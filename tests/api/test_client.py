"""labs.client against a real uvicorn server and a real worker: submit, ETag polling, SSE and WebSocket with resume."""

from __future__ import annotations

import asyncio

import pytest
from api_helpers import LiveServer

from labs import events
from labs.client import ApiError, AsyncLabClient, HungUp, LabClient, Message
from labs.session import LabSession

SLOW = {"steps": 30, "step_seconds": 1}  # 1.5 s at the tests' time scale
INSTRUCTOR = "instructor-secret-for-client-tests"


def recorded(lab: LabSession, job_id: str) -> list[str]:
    return [e.id for e in events.job_events(lab.conn, job_id)]


def test_submit_then_poll_with_etag_until_completed(lab: LabSession, live_api: LiveServer) -> None:
    with LabClient(live_api.url) as api:
        job_id = api.submit("slow_task", {"steps": 3, "step_seconds": 1})
        views = list(api.poll(job_id, interval=0.02))
        states = [view["state"] for view in views]
        assert states[-1] == "completed" and states.count("completed") == 1  # the settling look was a 304
        assert set(states) <= {"pending", "running", "completed"}
        order = {"pending": 0, "running": 1, "completed": 2}
        assert [order[s] for s in states] == sorted(order[s] for s in states)  # never backwards
        assert [e["id"] for e in views[-1]["events"]] == recorded(lab, job_id)

        first = api.get(job_id)
        assert first.status == 200 and first.changed and first.etag and first.view is not None
        again = api.get(job_id, first.etag)
        assert (again.status, again.view, again.etag) == (304, None, first.etag)  # nothing changed: no body
        assert api.get(job_id, 'W/"0-0.queued"').status == 200  # a stale tag gets the view

        ids = api.submit_batch([{"task": "noop", "params": {"value": n}} for n in range(3)])
        assert len(set(ids)) == 3
        with pytest.raises(ApiError) as refused:
            api.submit("os.system", {"command": "id"})
        assert refused.value.status == 422 and "slow_task" in refused.value.detail  # the catalogue, in the detail
        with pytest.raises(ApiError) as unknown:
            api.get("f" * 32)
        assert unknown.value.status == 404 and str(unknown.value).startswith("HTTP 404: ")


def test_sse_follow_resumes_after_a_cut_without_gap_or_duplicate(lab: LabSession, live_api: LiveServer) -> None:
    with LabClient(live_api.url) as api:
        job_id = api.submit("slow_task", SLOW)
        follow = api.follow(job_id)
        messages: list[Message] = []
        cut = False
        for message in follow:
            messages.append(message)
            if not cut and sum(m.event == "progress" for m in messages) == 5:
                cut = follow.cut()  # the line drops mid-job; the follow reconnects by itself
        assert cut
    got = [m.id for m in messages if m.type == "event"]
    assert got == recorded(lab, job_id)  # no gap, no duplicate
    assert follow.done and follow.end is not None and follow.end["state"] == "completed"
    assert follow.statuses == [200, 200] and follow.reconnects == 1
    assert [m.type for m in messages].count("snapshot") == 2  # one per connection
    assert messages[-1].type == "end" and follow.state == "done"
    assert all(m.received >= m.data["ts"] for m in messages if m.type == "event")

    with LabClient(live_api.url) as api:  # a follow that comes back after the end: 204, nothing more
        late = api.follow(job_id, last_event_id=got[-1])
        assert list(late) == [] and late.statuses == [204] and late.done


def test_sse_follow_of_an_unknown_job_raises_the_api_error(broker: str, live_api: LiveServer) -> None:
    with LabClient(live_api.url) as api, pytest.raises(ApiError) as refused:
        list(api.follow("f" * 32))
    assert refused.value.status == 404


def test_the_firehose_follow_sees_every_event_of_new_jobs(lab: LabSession, live_api: LiveServer) -> None:
    with LabClient(live_api.url) as api:
        firehose = api.follow_events()
        seen: list[Message] = []
        job_id = None
        for message in firehose:
            seen.append(message)
            if message.type == "snapshot":
                job_id = api.submit("slow_task", {"steps": 2, "step_seconds": 1})
            elif message.type == "event" and message.data["job_id"] == job_id and message.event == "completed":
                firehose.close()
    assert seen[0].type == "snapshot" and firehose.state == "closed"
    assert [m.id for m in seen if m.type == "event" and m.data["job_id"] == job_id] == recorded(lab, job_id)


def test_websocket_cancel_stops_a_running_slow_task(lab: LabSession, live_api: LiveServer) -> None:
    with LabClient(live_api.url) as api:
        job_id = api.submit("slow_task", {"steps": 2000, "step_seconds": 1})
        follow = api.follow_ws(job_id)
        kinds: list[str] = []
        for message in follow:
            kinds.append(message.event)
            if message.event == "progress" and "<cancel sent>" not in kinds and follow.cancel():
                kinds.append("<cancel sent>")
    assert follow.done and follow.end is not None and follow.end["state"] == "failed"
    assert kinds[0] == "snapshot" and kinds[-1] == "end"
    assert kinds.index("<cancel sent>") < min(kinds.index("ack"), kinds.index("cancelled"))
    names = [e.event for e in events.job_events(lab.conn, job_id)]
    assert names[:2] == ["enqueued", "started"] and names[-1] == "cancelled"
    assert "completed" not in names
    assert [k for k in kinds if k not in {"snapshot", "ack", "heartbeat", "<cancel sent>", "end"}] == names


def test_websocket_follow_redials_after_a_cut_and_resumes(lab: LabSession, live_api: LiveServer) -> None:
    with LabClient(live_api.url) as api:
        job_id = api.submit("slow_task", SLOW)
        follow = api.follow_ws(job_id, base=0.01)
        got: list[str] = []
        cut = False
        for message in follow:
            if message.type == "event":
                got.append(str(message.id))
                if len(got) == 4 and not cut:
                    cut = follow.cut()
    assert cut and follow.reconnects == 1 and follow.done
    assert got == recorded(lab, job_id)  # ?after= on the redial: no gap, no duplicate


def test_websocket_heartbeat_ping_and_a_refused_call(lab: LabSession, live_api: LiveServer) -> None:
    with LabClient(live_api.url) as api:
        job_id = api.submit("slow_task", {"steps": 2000, "step_seconds": 1})
        with api.connect_ws(job_id) as call:
            call.ping()
            kinds: list[str] = []
            while "heartbeat" not in kinds or "pong" not in kinds:
                kinds.append(call.recv(timeout=10).type)  # the server's heartbeat comes every 15 demo s
            assert call.heartbeats >= 1 and call.round_trip is not None and call.round_trip >= 0
            call.cancel()
            rest = [m.event for m in call]
        assert rest[-2:] == ["cancelled", "end"] and call.done
        with pytest.raises(HungUp) as refused:
            list(api.follow_ws("f" * 32))
        assert refused.value.code == 4404 and "no job" in refused.value.reason


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_classroom_token_in_a_header_or_the_query(lab: LabSession, live_api: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_INSTRUCTOR_TOKEN", INSTRUCTOR)
    with LabClient(live_api.url) as anonymous, pytest.raises(ApiError) as refused:
        anonymous.submit("noop")
    assert refused.value.status == 401
    with LabClient(live_api.url) as alice, LabClient(live_api.url) as bob:
        token = alice.join("alice")
        assert alice.token == token
        job_id = alice.submit("noop", {"value": 1})
        bob.join("bob")
        with pytest.raises(ApiError) as hidden:
            bob.get(job_id)
        assert hidden.value.status == 404  # another student's job does not exist for bob
    with LabClient(live_api.url, token=token, token_in_query=True) as browser:  # as EventSource / WebSocket must
        assert [m.event for m in browser.follow(job_id).events()] == ["enqueued", "started", "completed"]
        assert [m.type for m in browser.follow_ws(job_id)][-1] == "end"
    with LabClient(live_api.url, token=INSTRUCTOR) as teacher:
        assert teacher.get(job_id).view is not None


def test_async_submit_and_sse_follow_with_a_cut(lab: LabSession, live_api: LiveServer) -> None:
    async def run() -> tuple[str, list[Message], list[str], list[int]]:
        async with AsyncLabClient(live_api.url) as api:
            job_id = await api.submit("slow_task", SLOW)
            follow = api.follow(job_id)
            messages: list[Message] = []
            cut = False
            async for message in follow:
                messages.append(message)
                if not cut and sum(m.event == "progress" for m in messages) == 3:
                    cut = follow.cut()
            assert cut
            answer = await api.get(job_id)
            assert answer.view is not None and (await api.get(job_id, answer.etag)).status == 304
            ws = [m.type async for m in api.follow_ws(job_id)]
            return job_id, messages, ws, follow.statuses

    job_id, messages, ws, statuses = asyncio.run(run())
    assert [m.id for m in messages if m.type == "event"] == recorded(lab, job_id)
    assert statuses == [200, 200] and messages[-1].type == "end"
    assert ws[0] == "snapshot" and ws[-1] == "end" and ws.count("event") == len(recorded(lab, job_id))
