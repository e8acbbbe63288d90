"""One job watched over WebSocket, SSE and polling: real clients of the real API (``python -m labs api``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from dashboard_helpers import free_port, serve_api

from labs import events
from labs.broker import EmbeddedBroker
from labs.dashboard import channels
from labs.session import LabSession


def until(check: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


EMBEDDED = pytest.mark.parametrize("broker", ["embedded"], indirect=True)  # the API's own tests cover both brokers


@pytest.fixture(scope="module")
def api_server(embedded_broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One API process for this module, on the embedded broker (each test still gets a flushed broker)."""
    with serve_api(embedded_broker.url, tmp_path_factory.mktemp("api")) as base:
        yield base


@pytest.fixture
def session_of() -> Callable[..., channels.ChannelSession]:
    made: list[channels.ChannelSession] = []

    def make(*args: object, **kwargs: object) -> channels.ChannelSession:
        session = channels.ChannelSession(*args, **kwargs)  # type: ignore[arg-type]
        made.append(session)
        return session

    yield make
    for session in made:
        session.stop()
        session.join()


@EMBEDDED
def test_three_channels_see_the_same_events(lab: LabSession, api_server: str, session_of: Callable) -> None:
    job_id = channels.submit(api_server, "slow_task", {"steps": 5, "step_seconds": 1})
    watch = session_of(api_server, job_id).start()
    until(lambda: watch.done, what="all three channels to finish")
    recorded = [e.id for e in events.job_events(lab.conn, job_id)]
    for name, watcher in watch.watchers.items():
        summary = watcher.summary()
        assert (summary["status"], summary["missed"], summary["state"]) == ("done", 0, "completed"), name
        assert [s.id for s in watcher.seen()] == recorded, name  # every event, in order, once
        assert all(s.delay_ms >= 0 for s in watcher.seen())
    polling = watch.watchers["polling"].summary()
    assert polling["requests"] >= 2 and polling["not_modified"] <= polling["requests"]


@EMBEDDED
def test_a_cut_radio_reconnects_by_itself_but_a_cut_phone_call_needs_a_redial(
    lab: LabSession, api_server: str, session_of: Callable
) -> None:
    job_id = channels.submit(api_server, "slow_task", {"steps": 60, "step_seconds": 1})
    watch = session_of(api_server, job_id).start()
    sse, ws = watch.watchers["sse"], watch.watchers["websocket"]
    assert isinstance(ws, channels.WSWatcher)
    until(lambda: sse.status == "open" and ws.status == "open" and len(ws.seen()) >= 3, what="both lines open")
    assert sse.cut() and ws.cut()
    until(lambda: ws.status == "dropped", what="the phone call to drop")
    until(lambda: sse.reconnects >= 1 and sse.status == "open", what="the radio to reconnect by itself")
    lab.wait(job_id, timeout=60)
    until(lambda: sse.done, what="the radio to hear the end")
    recorded = [e.id for e in events.job_events(lab.conn, job_id)]
    assert [s.id for s in sse.seen()] == recorded and sse.summary()["missed"] == 0  # Last-Event-ID: nothing lost
    # the phone stays dead: it missed everything after the cut
    assert ws.status == "dropped" and not ws.done
    assert len(ws.seen()) < len(recorded) and ws.summary()["state"] != "completed"
    ws.redial()
    until(lambda: ws.done, what="the redialled call to finish")
    assert ws.reconnects == 1
    assert sorted(s.id for s in ws.seen()) == sorted(recorded) and ws.summary()["missed"] == 0  # resume filled the gap
    assert not channels.PollWatcher(api_server, job_id).cut()  # polling has no line to cut


@EMBEDDED
def test_the_phone_works_both_ways(lab: LabSession, api_server: str, session_of: Callable) -> None:
    job_id = channels.submit(api_server, "slow_task", {"steps": 2000, "step_seconds": 1})
    watch = session_of(api_server, job_id)
    ws = watch.watchers["websocket"]
    assert isinstance(ws, channels.WSWatcher)
    ws.start()
    until(lambda: any(s.event == "progress" for s in ws.seen()), what="progress over the phone")
    ws.send({"action": "cancel"})  # client -> server on the same line
    until(lambda: ws.done, what="the cancelled job's call to end")
    assert ws.summary()["state"] == "failed" and ws.seen()[-1].event == "cancelled"


def test_an_unreachable_api_is_reported(session_of: Callable) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    assert not channels.api_alive(base)
    watch = session_of(base, "0" * 32).start()
    until(lambda: "ConnectError" in watch.watchers["polling"].error, what="the poll to report the connect error")
    until(lambda: watch.watchers["websocket"].status == "dropped", what="the call to fail")


@EMBEDDED
def test_an_unknown_job_is_an_error_not_a_hang(broker: str, api_server: str, session_of: Callable) -> None:
    watch = session_of(api_server, "f" * 32).start()
    until(lambda: watch.done, what="every channel to give up")
    assert watch.watchers["polling"].summary()["error"].startswith("RuntimeError: HTTP 404")
    assert "HTTP 404" in watch.watchers["sse"].summary()["error"]
    assert watch.watchers["websocket"].summary()["error"]  # the server says why, then hangs up
