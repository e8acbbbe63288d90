"""Fixtures for the reliability tests: a private redis-server and the lab's API in its own process.

Each test gets its own ``redis-server`` (labs.testing.redis_server) on a free loopback port,
never the shared one on 6379, because these tests stop and restart it. Without
a ``redis-server`` binary the tests are skipped locally and fail in CI
(``CI`` set), as the real-Redis half of tests/conftest.py's ``broker`` is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from labs.testing.api_process import ApiServer
from labs.testing.redis_server import RedisServer, RedisServerMissing


def _server(monkeypatch: pytest.MonkeyPatch, appendfsync: str) -> Iterator[RedisServer]:
    try:
        server = RedisServer(appendfsync=appendfsync)
    except RedisServerMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI must provide one)")
        pytest.skip(str(exc))
    with server:
        monkeypatch.setenv("REDIS_URL", server.url)  # the test, its workers and its API share it
        yield server


@pytest.fixture
def redis_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    """A private redis-server that syncs its append-only file on every write (it survives a restart)."""
    yield from _server(monkeypatch, "always")


@pytest.fixture
def fast_redis_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    """A private redis-server that syncs once a second: for load, where fsync per write would dominate."""
    yield from _server(monkeypatch, "everysec")


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiServer]:
    """The lab's API (uvicorn) in its own process, on the test's broker (request ``redis_server`` first)."""
    monkeypatch.setenv("LAB_MAX_UPLOAD_MB", "1")
    with ApiServer() as server:
        yield server
