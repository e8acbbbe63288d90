"""The engine seam: names, unknown engines (a clear error, a 422 listing them), and what each engine holds."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from labs import jobs
from labs.api import create_app
from labs.engines import ENGINES, UnknownEngine, get_engine, names
from labs.errors import InvalidParams


def test_engines_are_named_and_an_unknown_name_lists_them() -> None:
    assert names() == ["rq", "celery", "arq"]
    assert set(names()) == set(ENGINES)
    for name in names():
        engine = get_engine(name)
        assert engine.name == name and engine.kinds
        command = engine.worker_command("simple", "w1")
        kind = [] if name == "arq" else ["--simple"]  # ARQ has one kind of worker
        assert command[-4 - len(kind) :] == ["--engine", name, *kind, "--name", "w1"]
    with pytest.raises(UnknownEngine) as caught:
        get_engine("dramatiq")
    assert isinstance(caught.value, InvalidParams)
    assert "'dramatiq'" in str(caught.value) and "rq, celery, arq" in str(caught.value)


def test_submit_refuses_an_unknown_engine_before_anything_is_recorded(conn) -> None:
    with pytest.raises(UnknownEngine):
        jobs.submit(conn, "noop", {}, engine="nope")
    assert conn.keys("lab:*") == []


def test_each_engine_holds_what_it_was_given(conn) -> None:
    """No worker runs: a job sent to an engine is held by that engine, not by the other."""
    ids = {name: jobs.submit(conn, "noop", {"value": name}, engine=name) for name in names()}
    for name, job_id in ids.items():
        held = get_engine(name).held(conn)
        assert job_id in held
        assert not set(held) & (set(ids.values()) - {job_id})
        view = jobs.job_view(conn, job_id)
        assert view["engine"] == name and view["state"] == "pending"
        assert view["events"][0]["engine"] == name


@pytest.fixture
def client(broker: str) -> Iterator[Any]:
    with warnings.catch_warnings():  # Starlette suggests httpx2 for its TestClient; the lab pins httpx
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient
    with TestClient(create_app()) as test_client:
        yield test_client


def test_the_api_answers_an_unknown_engine_with_a_422_listing_the_engines(client) -> None:
    response = client.post("/tasks", json={"task": "noop", "engine": "dramatiq"})
    assert response.status_code == 422
    assert "rq, celery, arq" in response.text
    response = client.post("/tasks/batch", json={"jobs": [{"task": "noop"}, {"task": "noop", "engine": "x"}]})
    assert response.status_code == 422 and "rq, celery, arq" in response.text
    for engine in ("celery", "arq"):
        response = client.post("/tasks", json={"task": "noop", "engine": engine})
        assert response.status_code == 202
        view = client.get(response.headers["Location"]).json()
        assert view["engine"] == engine and view["state"] == "pending"
