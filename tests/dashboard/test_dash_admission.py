"""The board's admission section: each limit as it applies now, and who hits it (the API's 429s)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
from dashboard_helpers import free_port
from streamlit.testing.v1 import AppTest

from labs.api import create_app

with warnings.catch_warnings():  # Starlette suggests httpx2 for its TestClient; the lab pins httpx
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


def section(at: AppTest) -> tuple[list[dict[str, object]], list[str]]:
    """The admission expander's tables (as rows) and captions."""
    [expander] = [e for e in at.expander if "admission control" in e.label]
    tables = [row for frame in expander.dataframe for row in frame.value.to_dict("records")]
    return tables, [c.value for c in expander.caption]


def test_the_board_shows_each_limit_and_who_hits_it(
    broker: str, app: Callable[[], AppTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_API_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("LAB_INSTRUCTOR_TOKEN", "teacher")
    monkeypatch.setenv("LAB_RATE_LIMIT", "1")
    monkeypatch.setenv("LAB_MAX_QUEUE_DEPTH", "0")
    monkeypatch.setenv("LAB_LANG", "en")
    at = app().run()
    assert not at.exception, [e.value for e in at.exception]
    rows, captions = section(at)
    assert [(row["limit"], row["value"], row["now"]) for row in rows] == [
        ("submit rate, per student (token bucket)", "1 per 60 s", "checked"),
        ("pending + running, per student", "200 jobs", "checked"),
        ("queue depth, everyone (the sorting centre is full)", "0 jobs", "not checked"),
    ]
    assert "No request refused yet." in captions
    with TestClient(create_app()) as client:
        token = client.post("/students", json={"name": "alice"}).json()["token"]
        answers = [client.post("/tasks", json={"task": "noop"}, headers={"Authorization": f"Bearer {token}"}) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [202, 429, 429]
    at.run()
    rows, captions = section(at)
    assert {"who": "alice", "limit": "submit rate, per student (token bucket)", "refused": 2} in rows
    assert "429 · rate limit: 1 job per 60 s for student alice; 0 left, this request needs 1; retry in 60 s" in captions
